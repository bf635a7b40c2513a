"""Dependencies shared by the routers: the process's forecast service (`ServiceDep`, the one
place that reads `app.state`), its model, a session, and the caller's key. Those that do no I/O
are coroutines: FastAPI runs a plain function dependency in the thread pool, a hop that costs
more than its work."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Path, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.orm import Session

from app.access import judge
from app.security import WrongTokens
from app.service import ForecastService
from app.store import keys
from app.store.keys import Actor, Role
from models.contract import CASE_ID, MAX_ROW_ID
from models.engine import Engine


def service_of(request: Request) -> ForecastService:
    service: ForecastService = request.app.state.service
    return service


async def get_service(request: Request) -> ForecastService:
    """The process's forecast service (`app.service`)."""
    return service_of(request)


async def get_engine(request: Request) -> Engine:
    """The loaded model; a 503 (via ArtifactError) while no valid artifact is loaded. Read
    without a sub-dependency: every poll passes here, and each one costs it measurably."""
    return service_of(request).model()


ServiceDep = Annotated[ForecastService, Depends(get_service)]
EngineDep = Annotated[Engine, Depends(get_engine)]

CaseId = Annotated[str, Path(pattern=CASE_ID, description="The case's id.")]
"""A case id in a path: refused (422) unless it could be one, before it reaches the database."""
ReportId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The report's id.")]
"""A report id in a path: within the id column's range (PostgreSQL's 32-bit integer)."""


def get_session(request: Request) -> Iterator[Session]:
    """A database session for one request."""
    with service_of(request).sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]

_bearer = HTTPBearer(auto_error=False)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def require_analyst(request: Request, credentials: Credentials) -> Actor:
    """Writes of evidence (reports, cases, a case's prior and clock) need an analyst's key."""
    return _actor(request, credentials, "analyst", "write")


def require_admin(request: Request, credentials: Credentials) -> Actor:
    """Keys and the audit log need an admin's key."""
    return _actor(request, credentials, "admin", "manage keys and read the audit log")


async def require_reader(request: Request) -> None:
    """Reads need a key too when the settings say so (ESC_READ_TOKEN_REQUIRED). The header is
    read only then: every poll passes here, and a sub-dependency costs it 5% of its rate."""
    if service_of(request).settings.read_token_required:
        credentials = await _bearer(request)
        await run_in_threadpool(_actor, request, credentials, "reader", "read")


def _actor(
    request: Request, credentials: HTTPAuthorizationCredentials | None, role: Role, action: str
) -> Actor:
    """The key's name and role, if it may `action` (`app.access.judge`). Looked up on every
    request, so a revoked key fails at once on every worker. Plain functions: FastAPI runs them
    in the thread pool, off the event loop."""
    presented = _presented(request, credentials)
    with service_of(request).sessions() as session:
        found, exist = keys.find(session.connection(), {presented.secret})
    try:
        actor = judge(found.get(presented.secret), exist, role, action)
    except HTTPException as exc:
        presented.settle(exc)
        raise
    presented.settle(None)
    return actor


@dataclass(frozen=True)
class Presented:
    """A bearer token as presented, not yet looked up, by a client not backed off."""

    secret: str
    client: str
    wrong: WrongTokens

    def settle(self, refusal: HTTPException | None) -> None:
        """Count the outcome: only a token tried and refused as unknown slows its client."""
        if refusal is None or refusal.status_code == status.HTTP_403_FORBIDDEN:
            self.wrong.succeeded(self.client)
        elif refusal.status_code == status.HTTP_401_UNAUTHORIZED and self.secret:
            self.wrong.failed(self.client)


def _presented(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Presented:
    """The token presented, unless its client is backed off after wrong tokens (429)."""
    return _presented_secret(request, credentials.credentials if credentials else "")


def _presented_secret(request: Request, secret: str) -> Presented:
    wrong = service_of(request).wrong_tokens
    client = request.client.host if request.client else "unknown"
    if (wait := math.ceil(wrong.wait(client))) > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many wrong tokens from this address: wait {wait} s before trying again",
            headers={"Retry-After": str(wait)},
        )
    return Presented(secret, client, wrong)


async def present_to_writer(request: Request) -> Presented:
    """For posted reports: the bearer token, looked up by the report writer in the write's own
    transaction (no thread hop, no session of its own: a POST's hot path). Without one, a 401
    at once, before the body is read.

    The header is read here with `HTTPBearer`'s own parser, not through a sub-dependency:
    FastAPI's solving of each dependency measured several percent of the serving process's time
    under concurrent POSTs. The route declares the scheme in its OpenAPI (`BEARER`)."""
    scheme, secret = get_authorization_scheme_param(request.headers.get("authorization"))
    presented = _presented_secret(request, secret if scheme.lower() == "bearer" else "")
    if not presented.secret:
        judge(None, True, "analyst", "write")
    return presented


BEARER: dict[str, object] = {"security": [{_bearer.scheme_name: []}]}
"""A route's OpenAPI, for a route that reads the bearer token itself (`present_to_writer`)."""


AnalystDep = Annotated[Actor, Depends(require_analyst)]
PresentedDep = Annotated[Presented, Depends(present_to_writer)]
AdminDep = Annotated[Actor, Depends(require_admin)]
WriterDep = Depends(require_analyst)
ReaderDep = Depends(require_reader)
