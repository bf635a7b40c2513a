"""`forecast backtest FILE`: the served model scored on a file of coded historical episodes.

The file is in the reference-case format (`models.reference`, codebook in
`models/reference/CODEBOOK.md`), read leniently: an indicator left out is unknown, a case's kind
follows from its patron, its family is its own id unless given. Each episode is forecast from its
coded indicators as of its `as_of`, each read as a report of the coding reliability measured
between independent coders (stored with the model), exactly as the service would forecast it:

- *as served*: each kind's population prior, beside that prior alone (the base rate);
- *what the evidence adds*: the outcome prior fixed to the file's own outcome frequencies, beside
  the constant forecast of those frequencies, so that no base rate can make the score.

Scores are Brier, log and ranked probability, expected under each episode's label confidence;
totals come with paired differences against the bar (standard errors clustered by family) and
skill scores and AUCs with 95% bootstrap intervals (families resampled).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.engine import Engine
from models.evaluation import score_table
from models.evidence import evidence_from_states
from models.forecast import Prior
from models.reference import ReferenceSet, load_reference
from models.scoring import case_scores


@dataclass(frozen=True)
class Backtest:
    reference: ReferenceSet
    reliability: float
    forecasts: dict[str, np.ndarray]  # model -> (episode, outcome)
    as_served: dict[str, Any]  # score_table of population_base_rate, model
    evidence: dict[str, Any]  # score_table of file_frequency, model_with_file_prior
    uncoded: int  # indicators that were not coded (unknown or left out), over all episodes

    def episodes(self) -> list[dict[str, Any]]:
        """Per episode: its label, the served forecast and the base rate, and their scores."""
        soft = self.reference.soft_labels
        served = case_scores(self.forecasts["model"], soft)
        base = case_scores(self.forecasts["population_base_rate"], soft)
        rows = []
        for i, case in enumerate(self.reference.cases):
            rows.append(
                {
                    "id": case.id,
                    "kind": self.reference.kinds[i],
                    "outcome": case.outcome,
                    "label_confidence": case.label_confidence,
                    "forecast": self.forecasts["model"][i].round(4).tolist(),
                    "base_rate": self.forecasts["population_base_rate"][i].round(4).tolist(),
                    **{f"{name}": float(served[name][i]) for name in served},
                    **{f"{name}_base_rate": float(base[name][i]) for name in base},
                }
            )
        return rows


def backtest(engine: Engine, path: Path, reliability: float | None = None) -> Backtest:
    """Score the served model on the coded episodes in `path` (see the module docstring)."""
    reference = load_reference(engine.catalog, path, strict=False)
    rho = engine.coding_reliability if reliability is None else reliability
    evidence = [evidence_from_states(row, rho) for row in reference.states]
    served = np.stack(
        [
            engine.predictor.means(e, Prior(kind))
            for e, kind in zip(evidence, reference.kinds, strict=True)
        ]
    )
    base = np.stack([engine.catalog.prior_mean(kind) for kind in reference.kinds])
    frequency = reference.soft_labels.mean(axis=0)
    with_file_prior = np.stack(
        [
            engine.predictor.means(e, Prior(kind, "backtest", tuple(frequency)))
            for e, kind in zip(evidence, reference.kinds, strict=True)
        ]
    )
    constant = np.broadcast_to(frequency, served.shape)
    families = reference.family_index
    applicable = np.stack([engine.catalog.applicable(kind) for kind in reference.kinds])
    return Backtest(
        reference=reference,
        reliability=rho,
        forecasts={"model": served, "population_base_rate": base},
        as_served=score_table({"population_base_rate": base, "model": served}, reference, families),
        evidence=score_table(
            {"file_frequency": constant, "model_with_file_prior": with_file_prior},
            reference,
            families,
        ),
        uncoded=int((np.isnan(reference.states) & applicable).sum()),
    )
