"""Errors mapped to HTTP, in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from models.errors import ArtifactError, ConflictError, InputError, NotFoundError

STATUS = {NotFoundError: 404, ConflictError: 409}


def install_error_handlers(app: FastAPI) -> None:
    """Bad input is a 422 naming the field and the reason (404 for what does not exist, 409 for
    a conflict); a model that cannot serve is a 503."""

    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(
            status_code=STATUS.get(type(exc), 422),
            content={"detail": [{"loc": exc.where, "msg": exc.reason}]},
        )

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own handler echoes the input back, and a NaN in it cannot be written as
        # JSON: bad input would become a 500. Location, reason and type are what a client needs.
        errors = [
            {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]}
            for error in exc.errors()
        ]
        return JSONResponse(status_code=422, content={"detail": errors})

    @app.exception_handler(ArtifactError)
    async def no_model(_: Request, exc: ArtifactError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})
