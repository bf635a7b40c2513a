"""Domain errors mapped to HTTP, in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from models.errors import ArtifactError, InputError


def install_error_handlers(app: FastAPI) -> None:
    """Bad input is a 422 naming the field and the reason; a model that cannot serve is a 503."""

    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse(
            status_code=422, content={"detail": [{"loc": exc.where, "msg": exc.reason}]}
        )

    @app.exception_handler(ArtifactError)
    async def no_model(_: Request, exc: ArtifactError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})
