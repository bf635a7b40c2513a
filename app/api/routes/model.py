"""The model being served: artifact id, provenance, diagnostics, out-of-sample skill."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api import API
from app.api.deps import EngineDep
from app.schemas import ModelInfo
from models.engine import Engine

router = APIRouter(prefix=f"{API}/model", tags=["model"])


@router.get("", response_model=ModelInfo)
def describe_model(engine: EngineDep) -> ModelInfo:
    """The served artifact and how it was fitted and checked."""
    meta = engine.artifact.meta
    evaluation = {key: value for key, value in meta["evaluation"].items() if key != "forecasts"}
    return ModelInfo(
        artifact_id=engine.artifact.id,
        fitted_at=meta["fitted_at"],
        reference_cases=meta["reference_cases"],
        sampler=meta["sampler"],
        diagnostics=meta["diagnostics"],
        versions=meta["versions"],
        elicitation_scale=meta["elicitation_scale"],
        priors=_priors(engine),
        likelihoods=meta["likelihoods"],
        skill=headline(meta["evaluation"]),
        evaluation=evaluation,
    )


def _priors(engine: Engine) -> dict[str, dict[str, Any]]:
    return {
        kind: {
            "pseudo_counts": prior.pseudo_counts.model_dump(),
            "tally": prior.tally.model_dump(),
            "frame": prior.frame,
            "sources": prior.sources,
        }
        for kind, prior in engine.catalog.outcome_priors.items()
    }


def headline(evaluation: dict[str, Any]) -> dict[str, Any]:
    """What the evidence adds, out of sample, with its uncertainty: the served model's Brier
    skill against the constant forecast of the reference frequencies (95% interval), its paired
    log-score difference (with its standard error) and its AUC per outcome."""
    row = evaluation["evidence"]["latent_groups"]
    return {
        "against": "reference_frequency",
        "families": evaluation["families"],
        "cases": evaluation["cases"],
        "brier_skill": row["brier_skill"],
        "log_difference": row["log_difference"],
        "auc": row["auc"],
    }
