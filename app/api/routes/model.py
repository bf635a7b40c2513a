"""The model being served: artifact id, provenance, diagnostics, out-of-sample scores."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from app.api.deps import EngineDep

router = APIRouter(prefix="/v1/model", tags=["model"])


class ModelInfo(BaseModel):
    artifact_id: str
    fitted_at: str
    reference_cases: int
    within_group_correlation: float
    sampler: dict[str, Any]
    diagnostics: dict[str, Any]
    loo: dict[str, Any]
    versions: dict[str, str]


@router.get("", response_model=ModelInfo)
def describe_model(engine: EngineDep) -> ModelInfo:
    """The served artifact and how it was fitted and checked."""
    meta = engine.artifact.meta
    return ModelInfo(
        artifact_id=engine.artifact.id,
        fitted_at=meta["fitted_at"],
        reference_cases=meta["reference_cases"],
        within_group_correlation=engine.artifact.correlation,
        sampler=meta["sampler"],
        diagnostics=meta["diagnostics"],
        loo=meta["loo"],
        versions=meta["versions"],
    )
