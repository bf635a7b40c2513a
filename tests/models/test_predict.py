"""The predictor on synthetic posterior draws: properties, exactness, explanations."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from models.catalog import OUTCOMES, Catalog
from models.evidence import (
    Report,
    evidence_from_reports,
    evidence_from_states,
    no_evidence,
    reliability,
)
from models.predict import Predictor
from models.psis import psis

AS_OF = date(2022, 7, 19)


@pytest.fixture(scope="module")
def draws(catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """Draws scattered around the elicited likelihoods, as a posterior would be."""
    rng = np.random.default_rng(7)
    n_draws, n_indicators = 4000, len(catalog.ids)
    pi = rng.dirichlet([6.0, 1.5, 3.0], n_draws)
    logit = np.log(catalog.likelihoods / (1 - catalog.likelihoods))
    theta = 1 / (1 + np.exp(-(logit + 0.4 * rng.standard_normal((n_draws, n_indicators, 3)))))
    return pi, theta


@pytest.fixture(scope="module")
def predictor(catalog: Catalog, draws: tuple[np.ndarray, np.ndarray]) -> Predictor:
    return Predictor(catalog, *draws, correlation=0.3)


def report(indicator: str, grade: str = "A", days_old: int = 0, value: float = 1.0) -> Report:
    return Report(indicator, value, AS_OF - timedelta(days=days_old), grade, "test")


def invasion(predictor: Predictor, reports: list[Report]) -> float:
    evidence = evidence_from_reports(predictor.catalog, reports, AS_OF)
    return predictor.predict(evidence).mean("direct_invasion")


def test_no_reports_gives_the_prior(
    predictor: Predictor, draws: tuple[np.ndarray, np.ndarray]
) -> None:
    forecast = predictor.predict(no_evidence(len(predictor.catalog.ids)))
    # To single precision, the precision of the predictor's per-draw arithmetic.
    np.testing.assert_allclose(forecast.means(), draws[0].mean(axis=0), rtol=1e-6)
    assert forecast.contributions == ()
    assert forecast.effective_draws == pytest.approx(4000)


def test_f_grade_moves_less_than_a_grade(predictor: Predictor) -> None:
    prior = invasion(predictor, [])
    graded = {g: invasion(predictor, [report("covert_mobilization", g)]) for g in "ABCDEF"}
    assert prior < graded["F"] < graded["A"]
    assert graded["A"] > graded["B"] > graded["C"] > graded["D"] > graded["E"] > prior


def test_old_report_moves_less_than_fresh_one(predictor: Predictor) -> None:
    prior = invasion(predictor, [])
    fresh = invasion(predictor, [report("covert_mobilization", days_old=0)])
    old = invasion(predictor, [report("covert_mobilization", days_old=90)])
    ancient = invasion(predictor, [report("covert_mobilization", days_old=3650)])
    assert fresh > old > prior
    assert ancient == pytest.approx(prior, abs=1e-6)


def test_ten_reports_of_one_indicator_move_less_than_ten_indicators(
    catalog: Catalog, draws: tuple[np.ndarray, np.ndarray]
) -> None:
    # Naive product (r = 0), so that the comparison is about the channel, not the discount.
    naive = Predictor(catalog, *draws, correlation=0.0)
    escalating = [
        ind.id
        for ind in catalog.indicators
        if ind.likelihood.direct_invasion > ind.likelihood.no_entry
    ][:10]
    assert len(escalating) == 10
    one_indicator = [report(escalating[0], grade="C") for _ in range(10)]
    ten_indicators = [report(indicator, grade="C") for indicator in escalating]
    assert invasion(naive, one_indicator) < invasion(naive, ten_indicators)


def test_repeated_reports_saturate_at_the_indicators_own_weight(predictor: Predictor) -> None:
    certain = evidence_from_states(
        np.array([1.0 if i == "covert_mobilization" else np.nan for i in predictor.catalog.ids])
    )
    hundred = [report("covert_mobilization", grade="C") for _ in range(100)]
    assert invasion(predictor, hundred) == pytest.approx(
        predictor.predict(certain).mean("direct_invasion"), rel=1e-6
    )


def test_soft_value_half_is_no_evidence(predictor: Predictor) -> None:
    assert invasion(predictor, [report("pretext_claims", value=0.5)]) == pytest.approx(
        invasion(predictor, []), abs=1e-12
    )


def test_probabilities_and_intervals_are_coherent(predictor: Predictor) -> None:
    reports = [report("covert_mobilization"), report("troop_shortfall", grade="B")]
    forecast = predictor.predict(evidence_from_reports(predictor.catalog, reports, AS_OF))
    assert forecast.means().sum() == pytest.approx(1.0)
    for p in forecast.probabilities:
        assert 0 <= p.lower < p.mean < p.upper <= 1
    assert 0 < forecast.effective_draws <= 4000
    assert forecast.pareto_k < 0.7


def test_contributions_have_the_expected_sign(predictor: Predictor) -> None:
    reports = [report("covert_mobilization"), report("troop_shortfall")]
    forecast = predictor.predict(evidence_from_reports(predictor.catalog, reports, AS_OF))
    effect = {c.indicator: c.log_odds for c in forecast.contributions}
    assert set(effect) == {"covert_mobilization", "troop_shortfall"}
    assert effect["covert_mobilization"]["direct_invasion"] > 0.3
    assert effect["troop_shortfall"]["direct_invasion"] < -0.3


def test_value_of_information_covers_unobserved_indicators(predictor: Predictor) -> None:
    reports = [report("covert_mobilization")]
    forecast = predictor.predict(evidence_from_reports(predictor.catalog, reports, AS_OF))
    names = [v.indicator for v in forecast.value_of_information]
    assert "covert_mobilization" not in names
    assert len(names) == len(predictor.catalog.ids) - 1
    bits = [v.bits for v in forecast.value_of_information]
    assert bits == sorted(bits, reverse=True) and bits[0] > 0.01
    best = forecast.value_of_information[0]
    # Learning the state moves the forecast both ways around the current mean (martingale).
    mean = forecast.means()
    mixed = best.p_present * np.array(list(best.if_present.values())) + (
        1 - best.p_present
    ) * np.array(list(best.if_absent.values()))
    np.testing.assert_allclose(mixed, mean, atol=0.02)


def test_value_of_information_is_exact_mutual_information_without_discount(
    catalog: Catalog, draws: tuple[np.ndarray, np.ndarray]
) -> None:
    """With one draw and r = 0, the value of information is I(outcome; indicator) in bits."""
    pi_single, theta_single = draws[0][:1], draws[1][:1]
    single = Predictor(catalog, pi_single, theta_single, correlation=0.0)
    value = single.predict(no_evidence(len(catalog.ids))).value_of_information[0]
    j = catalog.position[value.indicator]
    p_joint = np.stack([pi_single[0] * theta_single[0, j], pi_single[0] * (1 - theta_single[0, j])])
    p_x = p_joint.sum(axis=1, keepdims=True)
    p_y = p_joint.sum(axis=0)
    mutual = float((p_joint * np.log2(p_joint / (p_x * p_y))).sum())
    assert value.bits == pytest.approx(mutual, rel=1e-6)  # single precision per draw


def test_surprise_flags_evidence_unlikely_under_every_outcome(predictor: Predictor) -> None:
    ids = predictor.catalog.ids
    typical = [report(i, value=1.0 if i == "public_opposition" else 0.0) for i in ids]
    forecast = predictor.predict(evidence_from_reports(predictor.catalog, typical, AS_OF))
    assert not forecast.surprise
    # Every escalation sign present AND every restraint sign present, at certainty: no outcome
    # explains pledges, dissent and shortfall beside mobilization, pretexts and exercises.
    contradictory = [report(i) for i in ids]
    forecast = predictor.predict(evidence_from_reports(predictor.catalog, contradictory, AS_OF))
    assert forecast.surprise, forecast.surprise_z
    assert max(forecast.surprise_z.values()) < -2.33


def test_matches_exact_variable_elimination_in_pgmpy(
    catalog: Catalog, draws: tuple[np.ndarray, np.ndarray]
) -> None:
    """Correlation treatment off, parameters at their posterior means: exact Bayes, to 1e-6."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination
    from pgmpy.models import DiscreteBayesianNetwork

    pi, theta = draws[0].mean(axis=0), draws[1].mean(axis=0)
    predictor = Predictor(catalog, pi[None], theta[None], correlation=0.0)
    reports = [
        report("covert_mobilization", "C", 19),
        report("covert_mobilization", "E", 3, value=0.0),
        report("pretext_claims", "A", 17),
        report("troop_shortfall", "B", 0, value=0.8),
        report("officer_dissent", "D", 11),
        report("border_exercises", "F", 4, value=0.0),
    ]
    ours = predictor.predict(evidence_from_reports(catalog, reports, AS_OF)).means()

    network = DiscreteBayesianNetwork()
    cpds = [TabularCPD("outcome", 3, pi[:, None])]
    evidence = {}
    for number, r in enumerate(reports):
        j = catalog.position[r.indicator]
        if r.indicator not in network.nodes():
            network.add_edge("outcome", r.indicator)
            cpds.append(
                TabularCPD(r.indicator, 2, np.stack([1 - theta[j], theta[j]]), ["outcome"], [3])
            )
        rho = reliability(r.grade, (AS_OF - r.observed_on).days, catalog.half_lives[j])
        given_present = rho * r.value + (1 - rho) / 2
        given_absent = rho * (1 - r.value) + (1 - rho) / 2
        node = f"report_{number}"
        network.add_edge(r.indicator, node)
        table = np.array([[1 - given_absent, 1 - given_present], [given_absent, given_present]])
        cpds.append(TabularCPD(node, 2, table, [r.indicator], [2]))
        evidence[node] = 1
    network.add_cpds(*cpds)
    exact = VariableElimination(network).query(["outcome"], evidence, show_progress=False)
    np.testing.assert_allclose(ours, exact.values, atol=1e-6)


def test_psis_matches_arviz(rng: np.random.Generator) -> None:
    from arviz_stats.base.array import array_stats

    log_weights = rng.standard_t(3, size=4000)
    ours, k = psis(log_weights)
    theirs, their_k = array_stats.psislw(-log_weights)  # ArviZ takes log-likelihoods
    assert k == pytest.approx(float(their_k), abs=1e-6)
    np.testing.assert_allclose(ours - np.log(np.exp(ours).sum()), theirs, atol=1e-6)


@pytest.mark.parametrize("n_draws", [1, 24, 200, 4000])
def test_pareto_k_alone_is_psis_k(rng: np.random.Generator, n_draws: int) -> None:
    """The forecast's shortcut (the tail's values only) gives the diagnostic PSIS gives."""
    from models.psis import pareto_k

    log_weights = rng.standard_t(3, size=n_draws)
    assert pareto_k(log_weights) == psis(log_weights)[1]
    assert pareto_k(np.zeros(n_draws)) == psis(np.zeros(n_draws))[1] == 0.0


def test_correlation_discounts_within_group_but_not_across(
    catalog: Catalog, draws: tuple[np.ndarray, np.ndarray]
) -> None:
    naive = Predictor(catalog, *draws, correlation=0.0)
    discounted = Predictor(catalog, *draws, correlation=0.5)
    same_group = [report("covert_mobilization"), report("mobilization_drills")]
    across = [report("covert_mobilization"), report("border_exercises")]
    lone = [report("covert_mobilization")]
    assert invasion(discounted, lone) == pytest.approx(invasion(naive, lone), rel=1e-12)
    assert invasion(discounted, same_group) < invasion(naive, same_group)
    # Across groups, only the weight of each group's single indicator counts: no discount.
    assert invasion(discounted, across) == pytest.approx(invasion(naive, across), rel=1e-12)


def test_outcomes_are_ordered_by_escalation() -> None:
    assert OUTCOMES == ("no_entry", "false_flag", "direct_invasion")


def test_weighted_interval_matches_weighted_quantiles(rng: np.random.Generator) -> None:
    from models.predict import _weighted_interval

    values = rng.random((3, 4000))
    uniform = np.full(4000, 1 / 4000)
    np.testing.assert_allclose(
        _weighted_interval(values, uniform, (0.05, 0.95)),
        np.quantile(values, (0.05, 0.95), axis=1).T,
    )
    weights = rng.random(4000) ** 3  # very uneven, as importance weights can be
    weights /= weights.sum()
    ours = _weighted_interval(values, weights, (0.05, 0.95))
    for k in range(3):
        order = np.argsort(values[k])
        cdf = np.cumsum(weights[order]) - 0.5 * weights[order]
        reference = np.interp([0.05, 0.95], cdf, values[k][order])
        np.testing.assert_allclose(ours[k], reference, atol=0.01)
