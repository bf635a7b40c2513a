"""Errors mapped to HTTP, in one place, and every one answered with the same JSON body
(`app.schemas.ErrorBody`): `{"detail": [{"loc", "msg", "type"}]}`.

Bad input is a 422 naming the field and the reason (404 for what does not exist, 409 for a
conflict); a model or a database that cannot serve is a 503, logged; anything else is a 500,
logged with its traceback, and still JSON."""

from __future__ import annotations

import json
import logging
import re
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException

from app.writer import WriterStopped
from models.errors import ArtifactError, ConflictError, InputError, NotFoundError

log = logging.getLogger("escalation")

INPUT_ERRORS: dict[type[InputError], tuple[int, str]] = {
    NotFoundError: (404, "not_found"),
    ConflictError: (409, "conflict"),
    InputError: (422, "invalid"),
}
"""Status and type of each kind of bad input; a subclass answers as its nearest base here."""
STORAGE_FAULTS = (OperationalError, InterfaceError, sqlite3.OperationalError)
"""The database is unreachable, full, read-only or locked: the request may succeed later."""
RETRY_AFTER_SECONDS = 5
HTTP_ERRORS = {
    401: ("header.authorization", "unauthorized"),
    404: ("path", "not_found"),
    405: ("method", "method_not_allowed"),
    429: ("header.authorization", "too_many_attempts"),
    503: ("request", "disabled"),
}
"""What an HTTP error (the token's, the router's) is about, and its type."""


class Busy(Exception):
    """Too many costly requests are waiting: the client should retry after `retry_after` s."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


_FIELD = re.compile(r"[^.\[\]]+")
_LINE = re.compile(r"\s*(\d+):\s*(.*)")


def location(where: str) -> list[str | int]:
    """A location as the schema's own errors give it: "body[0].observed_on" is
    ["body", 0, "observed_on"]. A place inside a YAML text keeps its line and its key path
    whole: "body.scenario:12: reports[0].grade" is
    ["body", "scenario", "line 12", "reports[0].grade"]."""
    place, _, inside = where.partition(":")
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in _FIELD.findall(place)]
    if inside:
        numbered = _LINE.fullmatch(inside)
        parts += [f"line {numbered[1]}", numbered[2]] if numbered else [inside.strip()]
    return parts


def error_body(where: str, msg: str, kind: str) -> dict[str, object]:
    return {"detail": [{"loc": location(where), "msg": msg, "type": kind}]}


def input_status(exc: InputError) -> tuple[int, str]:
    """The status and type of bad input, by the nearest class in INPUT_ERRORS."""
    return next(INPUT_ERRORS[cls] for cls in type(exc).__mro__ if cls in INPUT_ERRORS)


def error_bytes(loc: str, msg: str, kind: str) -> bytes:
    """The error body as bytes, for middleware that answers before the app does."""
    return json.dumps(error_body(loc, msg, kind)).encode()


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def bad_input(_: Request, exc: InputError) -> JSONResponse:
        status, kind = input_status(exc)
        return JSONResponse(status_code=status, content=error_body(exc.where, exc.reason, kind))

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
        return JSONResponse(status_code=503, content=error_body("model", str(exc), "no_model"))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        where, kind = HTTP_ERRORS.get(exc.status_code, ("request", "refused"))
        body = error_body(where, str(exc.detail), kind)
        return JSONResponse(status_code=exc.status_code, content=body, headers=headers)

    @app.exception_handler(WriterStopped)
    async def no_writer(_: Request, exc: WriterStopped) -> JSONResponse:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        body = error_body("writer", f"{exc}; retry later", "no_writer")
        return JSONResponse(status_code=503, content=body, headers=headers)

    @app.exception_handler(Busy)
    async def busy(_: Request, exc: Busy) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after)}
        body = error_body("request", f"busy: {exc}; retry later", "busy")
        return JSONResponse(status_code=429, content=body, headers=headers)

    for fault in STORAGE_FAULTS:
        app.add_exception_handler(fault, storage_fault)
    app.add_exception_handler(Exception, unexpected)


async def storage_fault(request: Request, exc: Exception) -> JSONResponse:
    reason = str(getattr(exc, "orig", exc)).splitlines()[0]
    log.error("storage unavailable on %s %s: %s", request.method, request.url.path, reason)
    body = error_body("database", f"storage unavailable ({reason}); retry later", "no_storage")
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return JSONResponse(status_code=503, content=body, headers=headers)


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    body = error_body("server", "an unexpected error; it has been logged", "internal")
    return JSONResponse(status_code=500, content=body)


def allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document lists for this path (Starlette names only those of
    the first route that matches it)."""
    path = request.url.path
    return sorted(
        method.upper()
        for template, operations in request.app.openapi()["paths"].items()
        if re.fullmatch(re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(template)), path)
        for method in operations
    )
