"""The track record's arithmetic: scores checked by hand, and aggregates over synthetic
resolved cases that recover the calibration and discrimination they were made with."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from models.catalog import OUTCOMES
from models.track_record import LEAD_DAYS, ResolvedCase, case_record, track_record

RESOLVED = dt.date(2023, 2, 24)


def resolved(
    forecasts: np.ndarray, outcome: str, case_id: str = "c", base: np.ndarray | None = None
) -> ResolvedCase:
    days = [RESOLVED - dt.timedelta(days=len(forecasts) - i) for i in range(len(forecasts))]
    leads = {
        lead: forecasts[len(forecasts) - lead] if lead <= len(forecasts) else None
        for lead in LEAD_DAYS
    }
    base_rate = np.full(3, 1 / 3) if base is None else base
    return ResolvedCase(case_id, outcome, RESOLVED, days, forecasts, leads, base_rate)


def test_the_scores_of_a_hand_checkable_case() -> None:
    # Two days: (0.5, 0.3, 0.2) then (0.7, 0.2, 0.1); the outcome was no_entry.
    # Brier: (0.25 + 0.09 + 0.04) = 0.38 and (0.09 + 0.04 + 0.01) = 0.14: mean 0.26.
    # Log: -ln 0.5 and -ln 0.7. RPS over the ordered outcomes, halved: cumulative
    # (0.5, 0.8) against (1, 1): (0.25 + 0.04) / 2 = 0.145; (0.7, 0.9): (0.09 + 0.01) / 2 = 0.05.
    record = case_record(resolved(np.array([[0.5, 0.3, 0.2], [0.7, 0.2, 0.1]]), "no_entry"))
    assert record.days_scored == 2
    assert record.time_averaged.forecast["brier"] == pytest.approx(0.26)
    assert record.time_averaged.forecast["log"] == pytest.approx(-(np.log(0.5) + np.log(0.7)) / 2)
    assert record.time_averaged.forecast["rps"] == pytest.approx((0.145 + 0.05) / 2)
    # The uniform base rate: Brier (4/9 + 1/9 + 1/9) = 2/3, log ln 3, RPS ((2/3)^2 + (1/3)^2)/2.
    assert record.time_averaged.base_rate["brier"] == pytest.approx(2 / 3)
    assert record.time_averaged.base_rate["log"] == pytest.approx(np.log(3))
    assert record.time_averaged.base_rate["rps"] == pytest.approx(5 / 18)
    assert record.at_lead == {30: None, 60: None, 90: None}  # open for two days only


def test_a_lead_time_scores_the_forecast_in_force_that_day() -> None:
    days = 120
    forecasts = np.tile([0.2, 0.2, 0.6], (days, 1))
    forecasts[days - 30] = [0.1, 0.1, 0.8]
    record = case_record(resolved(forecasts, "direct_invasion"))
    at_30 = record.at_lead[30]
    assert at_30 is not None
    assert at_30.forecast["brier"] == pytest.approx(0.01 + 0.01 + 0.04)
    assert record.at_lead[60] is not None and record.at_lead[90] is not None


def synthetic(cases: int, distort: float, seed: int) -> list[ResolvedCase]:
    """Cases whose forecasts are near-constant draws from a Dirichlet, and whose outcomes are
    drawn from the forecasts raised to the power `distort` (1: calibrated; above 1: the
    forecasts were not confident enough; below: too confident)."""
    rng = np.random.default_rng(seed)
    made = []
    for c in range(cases):
        centre = rng.dirichlet([1.0, 1.0, 1.0])
        days = int(rng.integers(5, 40))
        noise = rng.normal(0, 0.01, (days, 3))
        forecasts = np.clip(centre + noise, 1e-3, None)
        forecasts /= forecasts.sum(axis=1, keepdims=True)
        truth = forecasts.mean(axis=0) ** distort
        outcome = OUTCOMES[rng.choice(3, p=truth / truth.sum())]
        made.append(resolved(forecasts, outcome, f"case-{c}"))
    return made


def test_the_track_record_recovers_a_known_calibration() -> None:
    calibrated = track_record(synthetic(600, 1.0, seed=1))
    assert calibrated.cases == 600 and len(calibrated.calibration) == 10
    covered = 0
    for row in calibrated.calibration:
        assert row.observed.lower <= row.observed.mean <= row.observed.upper
        covered += row.observed.lower <= row.mean_forecast <= row.observed.upper
    # Calibrated forecasts: each bin's 90% interval of the frequency seen covers the bin's
    # mean forecast, but for about one bin in ten (fewer than 7 of 10: 1.3% by chance).
    assert covered >= 7
    # Forecasts not confident enough: what they favour comes more often than they say.
    timid = track_record(synthetic(600, 3.0, seed=2))
    favoured = [row for row in timid.calibration if row.lower >= 0.6 and row.upper <= 0.9]
    assert favoured and all(row.observed.lower > row.mean_forecast for row in favoured)


def test_the_track_record_recovers_discrimination_and_skill() -> None:
    record = track_record(synthetic(300, 1.0, seed=3))
    for outcome in OUTCOMES:
        auc = record.auc[outcome]
        assert auc is not None and auc.lower > 0.6 and auc.lower <= auc.mean <= auc.upper
    brier = record.time_averaged["brier"]
    # Informative, calibrated forecasts beat the uniform base rate, and the interval says so.
    assert brier.difference.upper < 0 and brier.cases == 300
    # Uninformative forecasts (the base rate itself) are no better than chance.
    flat = [resolved(np.full((10, 3), 1 / 3), c.outcome, c.case_id) for c in synthetic(100, 1, 4)]
    flat_record = track_record(flat)
    flat_auc = flat_record.auc["no_entry"]
    assert flat_auc is not None and flat_auc.mean == pytest.approx(0.5)
    assert flat_record.time_averaged["brier"].difference.mean == pytest.approx(0.0)


def test_an_outcome_no_case_had_has_no_auc_and_the_intervals_are_reproducible() -> None:
    cases = [resolved(np.tile([0.6, 0.3, 0.1], (5, 1)), "no_entry", f"c{i}") for i in range(4)]
    record = track_record(cases)
    assert record.auc == {"no_entry": None, "false_flag": None, "direct_invasion": None}
    assert track_record(cases) == record
    assert track_record([]).cases == 0 and track_record([]).calibration == []
