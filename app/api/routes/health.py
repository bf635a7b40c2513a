"""Liveness and readiness."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app.api.deps import ServiceDep
from app.schemas import Readiness
from models.errors import ArtifactError

log = logging.getLogger("escalation")
router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready, and why"}},
)
async def readyz(service: ServiceDep) -> JSONResponse:
    """The artifact is loaded and passed its checks, and the database answers and can take
    writes (503 with the reason otherwise)."""
    try:
        engine = service.model()
    except ArtifactError as exc:
        return _not_ready(str(exc))
    problem = await run_in_threadpool(service.storage.problem)
    if problem is not None:
        return _not_ready(problem)
    return JSONResponse(content={"status": "ready", "artifact_id": engine.artifact.id})


def _not_ready(reason: str) -> JSONResponse:
    log.warning("not ready: %s", reason)
    return JSONResponse(status_code=503, content={"status": "not ready", "reason": reason})
