"""A forecast as `models.predict` computes it: outcome probabilities with their intervals, why
(contributions), what next (value of information), how far to trust it (surprise, Pareto k),
the prior it started from and how it moves with the base rates."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from pydantic import BaseModel

from models.catalog import OUTCOMES
from models.words import icd203

if TYPE_CHECKING:
    from models.provenance import Provenance

# The rows of a forecast are NamedTuples: immutable like frozen dataclasses, and several times
# cheaper to create (a forecast creates a few dozen).


class OutcomeProbability(NamedTuple):
    outcome: str
    mean: float
    lower: float
    upper: float


class Contribution(NamedTuple):
    """How far an indicator's reports moved each outcome's log-odds (with minus without them)."""

    indicator: str
    log_odds: dict[str, float]


class InformationValue(NamedTuple):
    """What learning an unobserved indicator's true state would be worth."""

    indicator: str
    bits: float  # expected reduction in the entropy of the outcome
    p_present: float
    if_present: dict[str, float]
    if_absent: dict[str, float]


class BaseRateShift(NamedTuple):
    """The forecast if one outcome's base rate were `base_rate` (the others keeping their
    proportions): how much of the forecast is the prior's."""

    outcome: str
    base_rate: float
    probabilities: dict[str, float]


class Prior(NamedTuple):
    """The outcome prior a forecast uses: its case kind's population prior (the catalog's
    Dirichlet), or probabilities fixed by an analyst (`source` says whose)."""

    kind: str
    source: str = "catalog"  # catalog | case | scenario
    fixed: tuple[float, ...] | None = None


class PriorUsed(NamedTuple):
    """The prior as a forecast names it: its kind, whose it is, its mean, and (for the
    catalog's population prior) its pseudo-counts."""

    kind: str
    source: str
    probabilities: dict[str, float]
    pseudo_counts: dict[str, float] | None


@dataclass(frozen=True)
class Forecast:
    """A forecast: probabilities with intervals, why (contributions), what next (value of
    information), whether the reports fit any outcome (surprise), how far the draws had to be
    reweighted for this case (Pareto k, effective draws out of `draws`), the prior it used,
    the likelihood ratio of all its evidence against `no_entry`, and how it moves with the base
    rates."""

    probabilities: tuple[OutcomeProbability, ...]
    contributions: tuple[Contribution, ...]  # largest effect first
    value_of_information: tuple[InformationValue, ...]  # most valuable first
    surprise: bool
    surprise_z: dict[str, float]
    pareto_k: float
    effective_draws: float
    draws: int
    prior: PriorUsed
    evidence_ratios: dict[str, float]
    base_rates: tuple[BaseRateShift, ...]

    def mean(self, outcome: str) -> float:
        return next(p.mean for p in self.probabilities if p.outcome == outcome)

    def means(self) -> np.ndarray:
        return np.array([p.mean for p in self.probabilities])


_FIRST, _SECOND, _THIRD = OUTCOMES


def per_outcome(values: list[float] | np.ndarray) -> dict[str, float]:
    """{outcome: value}; a forecast builds a few dozen, so lists of floats pass through as
    they are (a comprehension calling float() on each value measured 2 us a call), into a
    dict display (dict(zip(...)) measured twice as slow)."""
    first, second, third = values.tolist() if isinstance(values, np.ndarray) else values
    return {_FIRST: first, _SECOND: second, _THIRD: third}


# -- the record: how the API, the CLI's --json, the live row and the history serialise one ----


class OutcomeOut(BaseModel):
    outcome: str
    mean: float
    lower: float
    upper: float
    words: str  # ICD-203


class ContributionOut(BaseModel):
    indicator: str
    log_odds: dict[str, float]


class InformationOut(BaseModel):
    indicator: str
    bits: float
    p_present: float
    if_present: dict[str, float]
    if_absent: dict[str, float]


class PriorOut(BaseModel):
    """The prior a forecast used: the case kind's population prior (with its pseudo-counts) or
    an analyst's fixed one (`source`: catalog, case or scenario)."""

    kind: str
    source: str
    probabilities: dict[str, float]
    pseudo_counts: dict[str, float] | None


class BaseRateOut(BaseModel):
    """The forecast if `outcome`'s base rate were `base_rate` (an end of its plausible range)."""

    outcome: str
    base_rate: float
    probabilities: dict[str, float]


class ForecastOut(BaseModel):
    """A case's forecast: probabilities with 90% intervals and ICD-203 words, why, what next,
    the prior it started from, and how it moves across the plausible base rates; with the
    model that made it and what it was made from (`models.provenance.Provenance`)."""

    case_id: str
    as_of: dt.date
    artifact_id: str
    evidence_hash: str
    reports_used: int
    # Stored reports not yet known on as_of (known later), left out of this forecast.
    reports_left_out: int = 0
    probabilities: list[OutcomeOut]
    contributions: list[ContributionOut]
    value_of_information: list[InformationOut]
    surprise: bool
    surprise_z: dict[str, float]
    pareto_k: float | None
    effective_draws: float
    draws: int
    prior: PriorOut
    evidence_ratios: dict[str, float]  # P(all the evidence | outcome) / P(... | no_entry)
    base_rates: list[BaseRateOut]
    scenario_sha256: str | None = None  # what-if from a scenario: its hash (with its parents')

    @classmethod
    def of(
        cls, forecast: Forecast, case_id: str, artifact_id: str, provenance: Provenance
    ) -> ForecastOut:
        """The record of `forecast` for `case_id`, made by model `artifact_id` from
        `provenance`, with ICD-203 words beside each probability."""
        return cls.model_validate(
            {
                "case_id": case_id,
                "artifact_id": artifact_id,
                **vars(provenance),
                "probabilities": [
                    p._asdict() | {"words": icd203(p.mean)} for p in forecast.probabilities
                ],
                "contributions": [c._asdict() for c in forecast.contributions],
                "value_of_information": [v._asdict() for v in forecast.value_of_information],
                "surprise": forecast.surprise,
                "surprise_z": forecast.surprise_z,
                # inf (no tail could be fitted: the weights are not to be trusted) is not JSON.
                "pareto_k": forecast.pareto_k if math.isfinite(forecast.pareto_k) else None,
                "effective_draws": forecast.effective_draws,
                "draws": forecast.draws,
                "prior": forecast.prior._asdict(),
                "evidence_ratios": forecast.evidence_ratios,
                "base_rates": [shift._asdict() for shift in forecast.base_rates],
            }
        )
