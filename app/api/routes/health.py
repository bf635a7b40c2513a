"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import get_engine
from models.errors import ArtifactError

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The artifact is loaded and passed its checks (503 with the reason otherwise)."""
    try:
        engine = await get_engine(request)
    except ArtifactError as exc:
        return JSONResponse(status_code=503, content={"status": "not ready", "reason": str(exc)})
    return JSONResponse(content={"status": "ready", "artifact_id": engine.artifact.id})
