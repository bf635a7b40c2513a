"""The properties every coherent posterior obeys, as property tests over random evidence.

Every forecast is the exact posterior of one joint distribution (README, "The model"), so:
- conservation of expected evidence: for every unobserved indicator,
  P(present) * P(y | present) + P(absent) * P(y | absent) = P(y), as served;
- a report at a better grade moves the forecast further in the same direction;
- a further report that favours an outcome never lowers it, however many stand already;
- no reports give the prior; retracting a report restores the forecast exactly.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.catalog import OUTCOMES, Catalog, load_catalog
from models.evidence import (
    Report,
    evidence_from_logs,
    evidence_from_reports,
    no_evidence,
    report_log_likelihoods,
)
from models.forecast import ForecastOut, Prior
from models.predict import Predictor
from models.provenance import Provenance

from ..synthetic import synthetic_draws

AS_OF = date(2022, 7, 19)
GRADES = "EDCBA"  # worst to best
CATALOG = load_catalog()
SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


PREDICTOR = Predictor(CATALOG, synthetic_draws(CATALOG, n_draws=2000, seed=11))
SINGLE = Predictor(CATALOG, synthetic_draws(CATALOG, n_draws=1, seed=12))

reports_strategy = st.lists(
    st.builds(
        Report,
        indicator=st.sampled_from(CATALOG.ids),
        value=st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0)),
        observed_on=st.integers(0, 120).map(lambda days: AS_OF - timedelta(days=days)),
        grade=st.sampled_from("ABCDEF"),
        source=st.just("property test"),
    ),
    max_size=25,
)
kinds = st.sampled_from(["join_war", "start_war"])


def means(predictor: Predictor, reports: list[Report], kind: str = "join_war") -> np.ndarray:
    evidence = evidence_from_reports(CATALOG, reports, AS_OF)
    return predictor.predict(evidence, Prior(kind), explain=False).means()


@SETTINGS
@given(reports=reports_strategy, kind=kinds)
def test_conservation_of_expected_evidence(reports: list[Report], kind: str) -> None:
    """What to look for next always brackets now: its two branches average to the forecast."""
    forecast = PREDICTOR.predict(evidence_from_reports(CATALOG, reports, AS_OF), Prior(kind))
    now = forecast.means()
    for row in forecast.value_of_information:
        present = np.array([row.if_present[o] for o in OUTCOMES])
        absent = np.array([row.if_absent[o] for o in OUTCOMES])
        mixed = row.p_present * present + (1 - row.p_present) * absent
        np.testing.assert_allclose(mixed, now, rtol=1e-9, atol=1e-12)
        assert np.all(np.minimum(present, absent) <= now + 1e-12)
        assert np.all(np.maximum(present, absent) >= now - 1e-12)


@SETTINGS
@given(
    reports=reports_strategy,
    indicator=st.sampled_from(CATALOG.ids),
    value=st.sampled_from([0.0, 1.0]),
    days_old=st.integers(0, 60),
)
def test_a_better_grade_moves_the_forecast_further_the_same_way(
    reports: list[Report], indicator: str, value: float, days_old: int
) -> None:
    before = means(PREDICTOR, reports)
    moves = np.stack(
        [
            means(
                PREDICTOR,
                [*reports, Report(indicator, value, AS_OF - timedelta(days=days_old), grade)],
            )
            - before
            for grade in GRADES
        ]
    )  # (grade E..A, outcome)
    for k in range(len(OUTCOMES)):
        steps = moves[:, k]
        if np.all(np.abs(steps) < 1e-9):
            continue  # the indicator does not bear on this outcome here
        direction = np.sign(steps[-1])
        assert np.all(direction * steps >= -1e-9), steps
        assert np.all(np.diff(direction * steps) >= -1e-9), steps


@SETTINGS
@given(
    reports=reports_strategy,
    report=st.builds(
        Report,
        indicator=st.sampled_from(CATALOG.ids),
        value=st.sampled_from([0.0, 1.0]),
        observed_on=st.just(AS_OF),
        grade=st.sampled_from("ABCDEF"),
    ),
)
def test_a_report_that_favours_an_outcome_never_lowers_it(
    reports: list[Report], report: Report
) -> None:
    """A further report whose likelihood ratio, given what stands, is above 1 against each
    other outcome never lowers that outcome. The ratio is computed from the model's
    likelihoods (P(report | outcome, what stands), the draws weighted by P(draw | outcome, what
    stands)), independently of the forecast's own path."""
    kind = "join_war"
    before = evidence_from_reports(CATALOG, reports, AS_OF)
    after = evidence_from_reports(CATALOG, [*reports, report], AS_OF)
    log_pi = np.asarray(PREDICTOR.layout.log_pi[kind], dtype=np.float64)  # (K, S)
    standing = PREDICTOR.log_likelihood(before, kind) + log_pi
    added = PREDICTOR.log_likelihood(after, kind) + log_pi
    top = standing.max()
    ratio = np.exp(added - top).sum(axis=1) / np.exp(standing - top).sum(axis=1)
    favoured = int(np.argmax(ratio))
    if np.sort(ratio)[-2] >= ratio[favoured] * (1 - 1e-9):
        return  # no outcome is favoured over every other
    old = PREDICTOR.predict(before, Prior(kind), explain=False).means()[favoured]
    new = PREDICTOR.predict(after, Prior(kind), explain=False).means()[favoured]
    assert new >= old - 1e-12, (old, new, ratio)


@SETTINGS
@given(
    reports=reports_strategy,
    indicator=st.sampled_from(CATALOG.ids),
    value=st.sampled_from([0.0, 1.0]),
    grade=st.sampled_from("ABCDEF"),
    repeats=st.integers(1, 6),
)
def test_with_known_parameters_a_favouring_sign_always_accumulates(
    reports: list[Report], indicator: str, value: float, grade: str, repeats: int
) -> None:
    """With the parameters known (one draw), a report on an indicator whose P(present |
    outcome) is highest under an outcome raises that outcome, however many reports of its
    group stand: its group's other signs inform the group's state, never which outcome the
    indicator favours. (Over many draws a report also reweights the draws, and can then lower
    an outcome it favours in every draw; the test above covers the posterior as a whole.)"""
    j = CATALOG.position[indicator]
    group = CATALOG.group_of[j]
    p_present = SINGLE.layout.marginal_mean[np.flatnonzero(SINGLE.layout.order == j)[0]]
    favoured = int(np.argmax(p_present)) if value == 1.0 else int(np.argmin(p_present))
    group_reports = [
        Report(other, 1.0, AS_OF, "B")
        for other in CATALOG.ids
        if CATALOG.group_of[CATALOG.position[other]] == group
    ]
    standing = [*reports, *group_reports]
    previous = means(SINGLE, standing)[favoured]
    for _ in range(repeats):
        standing.append(Report(indicator, value, AS_OF, grade))
        now = means(SINGLE, standing)[favoured]
        # To single precision, that of the per-draw arithmetic: once a repeated report has
        # saturated its indicator, further copies move the forecast by rounding only.
        assert now >= previous - 1e-6, (previous, now)
        previous = now


def test_confirming_mobilization_reports_accumulate(catalog: Catalog) -> None:
    """The issue's example: grade-A reports confirming covert mobilization, one after another,
    each raise the probability of invasion (the old design effect lowered it: 0.71, 0.61,
    0.55)."""
    predictor = Predictor(catalog, synthetic_draws(catalog))
    standing: list[Report] = [Report("mobilization_drills", 1.0, AS_OF, "B")]
    previous = means(predictor, standing)[2]
    for _ in range(5):
        standing.append(Report("covert_mobilization", 1.0, AS_OF, "A"))
        now = means(predictor, standing)[2]
        assert now > previous
        previous = now


@SETTINGS
@given(kind=kinds)
def test_no_reports_give_the_prior(kind: str) -> None:
    forecast = PREDICTOR.predict(no_evidence(len(CATALOG.ids)), Prior(kind))
    expected = np.asarray(PREDICTOR.layout.log_pi[kind], dtype=np.float64)
    np.testing.assert_allclose(forecast.means(), np.exp(expected).mean(axis=1), rtol=1e-6)
    assert forecast.contributions == ()


@SETTINGS
@given(reports=reports_strategy, retracted=reports_strategy, kind=kinds)
def test_retracting_reports_restores_the_forecast_exactly(
    reports: list[Report], retracted: list[Report], kind: str
) -> None:
    """Evidence is kept as sums of each report's log-likelihoods (as the live forecast keeps
    it); adding reports and taking them out again gives the same sums to the bit, hence the same
    forecast, byte for byte, as never having had them."""
    present, absent = report_log_likelihoods(CATALOG, reports, AS_OF)
    more_present, more_absent = report_log_likelihoods(CATALOG, retracted, AS_OF)
    restored = ((present + more_present) - more_present, (absent + more_absent) - more_absent)
    np.testing.assert_array_equal(restored[0], present)
    np.testing.assert_array_equal(restored[1], absent)
    # Summing in another order gives the same evidence too (a replay of the same reports).
    shuffled = report_log_likelihoods(CATALOG, reports[::-1], AS_OF)
    np.testing.assert_array_equal(shuffled[0], present)
    prior = Prior(kind)
    original = PREDICTOR.predict(evidence_from_logs(present, absent), prior)
    again = PREDICTOR.predict(evidence_from_logs(*restored), prior)
    provenance = Provenance.of_reports(reports, AS_OF, prior)
    served = [ForecastOut.of(f, "case", "m-model", provenance) for f in (again, original)]
    assert served[0].model_dump_json() == served[1].model_dump_json()


@pytest.mark.parametrize("kind", ["join_war", "start_war"])
def test_the_prior_is_named_by_every_forecast(kind: str) -> None:
    forecast = PREDICTOR.predict(no_evidence(len(CATALOG.ids)), Prior(kind))
    assert forecast.prior.kind == kind and forecast.prior.source == "catalog"
    counts = CATALOG.prior_counts(kind)
    assert list(forecast.prior.pseudo_counts.values()) == pytest.approx(list(counts))
