"""Dependencies shared by the routers. Those that do no I/O are coroutines: FastAPI runs a
plain function dependency in the thread pool, a hop that costs more than its work."""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.schemas import CASE_ID
from app.security import WrongTokens
from app.settings import Settings
from models.engine import Engine
from models.errors import ArtifactError


async def get_engine(request: Request) -> Engine:
    """The loaded engine; a 503 (via ArtifactError) while no valid artifact is loaded."""
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise ArtifactError(request.app.state.engine_error or "model not loaded")
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]

CaseId = Annotated[str, Path(pattern=CASE_ID, description="The case's id.")]
"""A case id in a path: refused (422) unless it could be one, before it reaches the database."""
ReportId = Annotated[int, Path(ge=1, le=2**31 - 1, description="The report's id.")]
"""A report id in a path: within the id column's range (PostgreSQL's 32-bit integer)."""


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request."""
    with request.app.state.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False)


async def require_writer(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Writes need `Authorization: Bearer <token>`, compared in constant time, never logged."""
    _check_token(request, credentials, "write")


async def require_reader(request: Request) -> None:
    """Reads need the token too when the settings say so (ESC_READ_TOKEN_REQUIRED). The header
    is read only then: every poll passes here, and a sub-dependency costs it 5% of its rate."""
    if request.app.state.settings.read_token_required:
        _check_token(request, await _bearer(request), "read")


def _check_token(
    request: Request, credentials: HTTPAuthorizationCredentials | None, action: str
) -> None:
    settings: Settings = request.app.state.settings
    if settings.write_token is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"{action}s are disabled: no token set"
        )
    wrong: WrongTokens = request.app.state.wrong_tokens
    client = request.client.host if request.client else "unknown"
    if (wait := math.ceil(wrong.wait(client))) > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many wrong tokens from this address: wait {wait} s before trying again",
            headers={"Retry-After": str(wait)},
        )
    expected = settings.write_token.get_secret_value().encode()
    given = (credentials.credentials if credentials else "").encode()
    if not secrets.compare_digest(given, expected):
        if credentials:  # a token tried, not one forgotten: only guesses are slowed down
            wrong.failed(client)
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"a valid bearer token is required to {action}",
            headers={"WWW-Authenticate": "Bearer"},
        )
    wrong.succeeded(client)


WriterDep = Depends(require_writer)
ReaderDep = Depends(require_reader)
