"""Everything a forecast needs, loaded once: catalog, checked artifact, predictor."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.artifact import Artifact, load_artifact
from models.catalog import DEFAULT_CATALOG, OUTCOMES, Catalog, load_catalog
from models.evidence import evidence_from_reports
from models.predict import Forecast, Predictor
from models.reference import DEFAULT_REFERENCE, load_reference
from models.scenario import Overrides, Scenario
from models.words import icd203

NO_OVERRIDES = Overrides()
OVERRIDDEN_PREDICTORS = 8
"""Predictors under overrides kept per engine (each holds a copy of the draws, a few MB)."""


@dataclass(frozen=True)
class Engine:
    catalog: Catalog
    artifact: Artifact
    predictor: Predictor
    _overridden: Callable[[str], Predictor] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # A sensitivity analysis or a comparison runs one scenario's overrides dozens of times,
        # and building their predictor costs twice a forecast (measured: 2 ms): keep the last
        # few, keyed by the overrides' JSON (the models hold dicts, so cannot be hashed).
        cached = functools.lru_cache(maxsize=OVERRIDDEN_PREDICTORS)(self._build_overridden)
        object.__setattr__(self, "_overridden", cached)

    @classmethod
    def load(
        cls,
        artifact_path: Path,
        catalog_path: Path = DEFAULT_CATALOG,
        reference_path: Path = DEFAULT_REFERENCE,
    ) -> Engine:
        """Load and check the artifact against the catalog and reference data on disk."""
        catalog = load_catalog(catalog_path)
        reference = load_reference(catalog, reference_path)
        artifact = load_artifact(artifact_path, catalog, reference.fingerprint)
        return cls(catalog, artifact, artifact.predictor(catalog))

    def run(self, scenario: Scenario, overrides: Overrides | None = None) -> Forecast:
        """The forecast from a scenario's reports on its date, under its overrides (or under
        `overrides` instead): what `forecast run` prints and the what-if endpoint serves."""
        evidence = evidence_from_reports(self.catalog, scenario.to_reports(), scenario.as_of)
        return self.predictor_for(scenario.overrides if overrides is None else overrides).predict(
            evidence
        )

    def predictor_for(self, overrides: Overrides) -> Predictor:
        """The predictor with overridden likelihoods and outcome prior fixed in every draw."""
        if overrides == NO_OVERRIDES:
            return self.predictor
        return self._overridden(overrides.model_dump_json())

    def _build_overridden(self, overrides_json: str) -> Predictor:
        overrides = Overrides.model_validate_json(overrides_json)
        pi, theta = self.artifact.pi.copy(), self.artifact.theta.copy()
        for indicator, likelihood in overrides.likelihoods.items():
            theta[:, self.catalog.position[indicator], :] = likelihood.as_array()
        if overrides.outcome_prior is not None:
            pi[:] = overrides.outcome_prior.as_array()
        return Predictor(self.catalog, pi, theta, self.artifact.correlation)


def forecast_record(forecast: Forecast) -> dict[str, Any]:
    """A forecast as plain JSON-ready data, with ICD-203 words beside each probability."""
    return {
        "probabilities": [
            {
                "outcome": p.outcome,
                "mean": p.mean,
                "lower": p.lower,
                "upper": p.upper,
                "words": icd203(p.mean),
            }
            for p in forecast.probabilities
        ],
        "contributions": [
            {"indicator": c.indicator, "log_odds": c.log_odds} for c in forecast.contributions
        ],
        "value_of_information": [
            {
                "indicator": v.indicator,
                "bits": v.bits,
                "p_present": v.p_present,
                "if_present": v.if_present,
                "if_absent": v.if_absent,
            }
            for v in forecast.value_of_information
        ],
        "surprise": forecast.surprise,
        "surprise_z": forecast.surprise_z,
        # inf (no tail could be fitted: the weights are not to be trusted) is not valid JSON.
        "pareto_k": forecast.pareto_k if math.isfinite(forecast.pareto_k) else None,
        "effective_draws": forecast.effective_draws,
        "draws": forecast.draws,
        "outcomes": list(OUTCOMES),
    }
