"""The dashboard and the API's documentation (Swagger UI at /docs, ReDoc at /redoc): pages and
assets all in the repository, so that both work offline; assets named by their version and
compressed (`app.api.assets`)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request, Response

from app.api.assets import Assets, Page

STATIC = Path(__file__).resolve().parents[2] / "static"

assets = Assets(STATIC)
router = APIRouter(tags=["dashboard"])


@router.get("/", include_in_schema=False)
async def dashboard(request: Request) -> Response:
    """The page; it reads everything else from the API (and the token, if reads need one)."""
    return _INDEX.response(request.scope)


@router.get("/track-record", include_in_schema=False)
async def track_record_page(request: Request) -> Response:
    """How good the forecasts of resolved cases were; it reads GET /v1/track-record."""
    return _TRACK_RECORD.response(request.scope)


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> Response:
    return _DOCS.response(request.scope)


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> Response:
    return _REDOC.response(request.scope)


_INDEX, _TRACK_RECORD, _DOCS, _REDOC = (
    Page(assets, name) for name in ("index.html", "track-record.html", "docs.html", "redoc.html")
)
