"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The artifact is loaded and passed its checks (503 with the reason otherwise)."""
    engine = request.app.state.engine
    if engine is None:
        reason = request.app.state.engine_error or "model not loaded"
        return JSONResponse(status_code=503, content={"status": "not ready", "reason": reason})
    return JSONResponse(content={"status": "ready", "artifact_id": engine.artifact.id})
