"""The indicator catalog: what analysts may report, and the likelihoods behind each."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import API
from app.api.deps import EngineDep
from models.catalog import Indicator

router = APIRouter(prefix=f"{API}/indicators", tags=["indicators"])


@router.get("", response_model=list[Indicator])
def list_indicators(engine: EngineDep) -> list[Indicator]:
    """Every indicator of the catalog, in catalog order."""
    return list(engine.catalog.indicators)
