"""The dashboard and the API's documentation (Swagger UI at /docs, ReDoc at /redoc): pages and
assets all in the repository, so that both work offline."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parents[2] / "static"

router = APIRouter(tags=["dashboard"])


@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    """The page; it reads everything else from the API (and the token, if reads need one)."""
    return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/track-record", include_in_schema=False)
async def track_record_page() -> FileResponse:
    """How good the forecasts of resolved cases were; it reads GET /v1/track-record."""
    return FileResponse(STATIC / "track-record.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs", include_in_schema=False)
async def swagger_ui() -> FileResponse:
    return FileResponse(STATIC / "docs.html", headers={"Cache-Control": "no-cache"})


@router.get("/redoc", include_in_schema=False)
async def redoc() -> FileResponse:
    return FileResponse(STATIC / "redoc.html", headers={"Cache-Control": "no-cache"})


assets = StaticFiles(directory=STATIC, check_dir=False)
