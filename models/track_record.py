"""How good the forecasts of resolved cases were: each case scored as forecasting platforms
score a question (the forecast in force each day, time-averaged) and at fixed lead times, beside
the base rate; and over all resolved cases, scores with bootstrap intervals, a calibration
table and discrimination (AUC per outcome).

Every aggregate weighs each case once, however long it ran: a case forecast for a year would
otherwise outweigh ten forecast for a month. Intervals resample cases (the independent units),
not days, which within a case are strongly dependent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import TypeAdapter

from models.catalog import OUTCOMES
from models.scoring import auc_matrices, case_scores

LEAD_DAYS = (30, 60, 90)
"""Fixed lead times: the forecast in force this many days before the outcome."""
METRICS = ("brier", "log", "rps")
BINS = 10
"""Calibration bins: forecast probabilities in tenths."""
RESAMPLES = 2000
INTERVAL = (0.05, 0.95)
"""The bootstrap's 90% interval."""


@dataclass(frozen=True)
class ResolvedCase:
    """A resolved case's forecasts: the one in force on each scored day (each row sums to 1,
    outcomes in `OUTCOMES` order) and the day each was in force; the one in force at each lead
    time before the outcome (None if the case was not open yet); the outcome and when it came;
    and the base rate the case started from."""

    case_id: str
    outcome: str
    resolved_on: dt.date
    days: Sequence[dt.date]
    forecasts: np.ndarray  # (days, outcomes)
    at_lead: dict[int, np.ndarray | None]
    base_rate: np.ndarray  # (outcomes,)

    def __post_init__(self) -> None:
        if len(self.days) == 0 or self.forecasts.shape != (len(self.days), len(OUTCOMES)):
            raise ValueError(f"{self.case_id}: one forecast per scored day, at least one day")

    @property
    def label(self) -> np.ndarray:
        return np.asarray(np.eye(len(OUTCOMES))[OUTCOMES.index(self.outcome)])


@dataclass(frozen=True)
class Scored:
    """A resolved case's forecasts as scored, the models that made them (days scored with
    each) and what could not be replayed as it was served."""

    case: ResolvedCase
    models: dict[str, int]
    notes: list[str]


@dataclass(frozen=True)
class Scores:
    """One forecast's scores (Brier 0-2, log score in nats, RPS 0-1; lower is better) beside
    the base rate's."""

    forecast: dict[str, float]
    base_rate: dict[str, float]


def scores(forecasts: np.ndarray, label: np.ndarray, base_rate: np.ndarray) -> Scores:
    """The mean scores of `forecasts` (rows) against one outcome, and the base rate's."""
    labels = np.broadcast_to(label, forecasts.shape)
    daily = case_scores(forecasts, labels)
    base = case_scores(base_rate[None, :], label[None, :])
    return Scores(
        {metric: float(daily[metric].mean()) for metric in METRICS},
        {metric: float(base[metric][0]) for metric in METRICS},
    )


@dataclass(frozen=True)
class CaseRecord:
    """A resolved case scored: time-averaged over the days it was scored, and at each lead
    time it was open for."""

    case_id: str
    outcome: str
    resolved_on: dt.date
    days_scored: int
    time_averaged: Scores
    at_lead: dict[int, Scores | None]


def case_record(case: ResolvedCase) -> CaseRecord:
    leads = {}
    for lead in LEAD_DAYS:
        forecast = case.at_lead.get(lead)
        leads[lead] = (
            None if forecast is None else scores(forecast[None], case.label, case.base_rate)
        )
    return CaseRecord(
        case.case_id,
        case.outcome,
        case.resolved_on,
        len(case.days),
        scores(case.forecasts, case.label, case.base_rate),
        leads,
    )


@dataclass(frozen=True)
class Estimate:
    """A mean over cases with its bootstrap 90% interval."""

    mean: float
    lower: float
    upper: float


@dataclass(frozen=True)
class ScoreSummary:
    """One metric over cases: the forecasts', the base rate's, and their difference
    (forecast − base rate: negative is better than the base rate)."""

    cases: int
    forecast: Estimate
    base_rate: Estimate
    difference: Estimate


@dataclass(frozen=True)
class CalibrationBin:
    """Forecasts of one tenth of probability: how many (case-outcome-days, and distinct
    cases), their mean, and how often the outcome came (each case weighed once), with a
    Wilson 90% interval over the bin's effective number of cases."""

    lower: float
    upper: float
    forecasts: int
    cases: int
    mean_forecast: float
    observed: Estimate


@dataclass(frozen=True)
class TrackRecord:
    cases: int
    time_averaged: dict[str, ScoreSummary]
    at_lead: dict[int, dict[str, ScoreSummary]]
    calibration: list[CalibrationBin]
    auc: dict[str, Estimate | None]  # None where every case or none resolved as the outcome
    records: list[CaseRecord] = field(default_factory=list)


def track_record(cases: Sequence[ResolvedCase], seed: int = 20220719) -> TrackRecord:
    """Every resolved case scored, and the aggregates over them. The bootstrap's resamples are
    seeded: the same cases give the same intervals."""
    records = [case_record(case) for case in cases]
    weights = (
        np.random.default_rng(seed).multinomial(
            len(cases), np.full(len(cases), 1 / len(cases)), size=RESAMPLES
        )
        if cases
        else np.zeros((RESAMPLES, 0))
    )
    time_averaged = _summaries([r.time_averaged for r in records], weights)
    at_lead = {}
    for lead in LEAD_DAYS:
        present = [i for i, r in enumerate(records) if r.at_lead[lead] is not None]
        at_lead[lead] = _summaries(
            [records[i].at_lead[lead] for i in present],  # type: ignore[misc]
            weights[:, present],
        )
    return TrackRecord(
        len(cases),
        time_averaged,
        at_lead,
        _calibration(cases),
        _auc(cases, weights),
        records,
    )


def _estimate(values: np.ndarray, weights: np.ndarray) -> Estimate:
    """The mean of per-case `values` and its bootstrap interval (`weights`: each resample's
    multiplicity of each case)."""
    totals = weights.sum(axis=1)
    usable = totals > 0
    mean = float(values.mean())
    if not usable.any():  # no resample drew any of these cases: no spread to tell
        return Estimate(mean, mean, mean)
    resampled = (weights[usable] @ values) / totals[usable]
    lower, upper = np.quantile(resampled, INTERVAL)
    return Estimate(mean, float(lower), float(upper))


def _summaries(records: Sequence[Scores], weights: np.ndarray) -> dict[str, ScoreSummary]:
    if not records:
        return {}
    summaries = {}
    for metric in METRICS:
        forecast = np.array([r.forecast[metric] for r in records])
        base = np.array([r.base_rate[metric] for r in records])
        summaries[metric] = ScoreSummary(
            len(records),
            _estimate(forecast, weights),
            _estimate(base, weights),
            _estimate(forecast - base, weights),
        )
    return summaries


def _calibration(cases: Sequence[ResolvedCase]) -> list[CalibrationBin]:
    """Per bin and case: the weight of its forecasts there (each case weighs 1 per outcome,
    spread over its days), the weight of those whose outcome came, and their forecasts' sum."""
    if not cases:
        return []
    in_bin = np.zeros((len(cases), BINS))
    came = np.zeros((len(cases), BINS))
    forecast_sum = np.zeros((len(cases), BINS))
    counts = np.zeros((len(cases), BINS), dtype=int)
    for c, case in enumerate(cases):
        p = case.forecasts.ravel()
        y = np.broadcast_to(case.label, case.forecasts.shape).ravel()
        bins = np.minimum((p * BINS).astype(int), BINS - 1)
        weight = 1.0 / len(case.days)
        np.add.at(in_bin[c], bins, weight)
        np.add.at(came[c], bins, weight * y)
        np.add.at(forecast_sum[c], bins, weight * p)
        np.add.at(counts[c], bins, 1)
    table = []
    for b in range(BINS):
        total = in_bin[:, b].sum()
        if total == 0:
            continue
        frequency = float(came[:, b].sum() / total)
        cases_there = total**2 / (in_bin[:, b] ** 2).sum()  # Kish's effective number of cases
        table.append(
            CalibrationBin(
                b / BINS,
                (b + 1) / BINS,
                int(counts[:, b].sum()),
                int((counts[:, b] > 0).sum()),
                float(forecast_sum[:, b].sum() / total),
                Estimate(frequency, *wilson(frequency, float(cases_there))),
            )
        )
    return table


Z_90 = 1.6448536269514722


def wilson(frequency: float, n: float) -> tuple[float, float]:
    """The Wilson score 90% interval of a frequency seen over `n` (effective) cases: unlike a
    bootstrap's, it does not collapse to a point when every case, or none, had the outcome."""
    centre = (frequency + Z_90**2 / (2 * n)) / (1 + Z_90**2 / n)
    half = (
        Z_90 / (1 + Z_90**2 / n) * np.sqrt(frequency * (1 - frequency) / n + Z_90**2 / (4 * n**2))
    )
    # In exact arithmetic the interval holds the frequency; in floating point an end may miss
    # it by a rounding (at 0 and 1 it should be the end itself).
    lower, upper = max(centre - half, 0.0), min(centre + half, 1.0)
    return float(min(lower, frequency)), float(max(upper, frequency))


def _auc(cases: Sequence[ResolvedCase], weights: np.ndarray) -> dict[str, Estimate | None]:
    """Per outcome, how well each case's time-averaged probability of it ranks the cases that
    resolved as it above those that did not (0.5: no better than chance)."""
    averaged = np.array([case.forecasts.mean(axis=0) for case in cases]).reshape(-1, len(OUTCOMES))
    labels = np.array([case.label for case in cases]).reshape(-1, len(OUTCOMES))
    found: dict[str, Estimate | None] = {}
    for k, outcome in enumerate(OUTCOMES):
        ordered, pairs = auc_matrices(averaged[:, k], labels[:, k])
        if pairs.sum() == 0:
            found[outcome] = None
            continue
        numerator = ((weights @ ordered) * weights).sum(axis=1)
        denominator = ((weights @ pairs) * weights).sum(axis=1)
        usable = denominator > 0
        lower, upper = np.quantile(numerator[usable] / denominator[usable], INTERVAL)
        found[outcome] = Estimate(float(ordered.sum() / pairs.sum()), float(lower), float(upper))
    return found


def from_json(data: dict[str, object]) -> tuple[str, TrackRecord]:
    """The model id and the track record from the JSON `GET /v1/track-record` answers (what
    `forecast report --track-record` reads, from the service or a saved file)."""
    body = dict(data)
    artifact_id = str(body.pop("artifact_id", "unknown"))
    return artifact_id, TypeAdapter(TrackRecord).validate_python(body)
