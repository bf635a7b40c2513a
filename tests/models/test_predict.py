"""The predictor on synthetic posterior draws: exactness against oracles, explanations, priors."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import numpy as np
import pytest

from models.catalog import OUTCOMES, Catalog
from models.draws import ModelDraws, _log_of_product
from models.evidence import (
    Evidence,
    Report,
    evidence_from_reports,
    evidence_from_states,
    no_evidence,
    reliability,
)
from models.forecast import Prior
from models.predict import Predictor
from models.psis import psis

from ..synthetic import synthetic_draws

AS_OF = date(2022, 7, 19)
JOIN = Prior("join_war")


@pytest.fixture(scope="module")
def draws(catalog: Catalog) -> ModelDraws:
    return synthetic_draws(catalog)


@pytest.fixture(scope="module")
def predictor(catalog: Catalog, draws: ModelDraws) -> Predictor:
    return Predictor(catalog, draws)


def report(indicator: str, grade: str = "A", days_old: int = 0, value: float = 1.0) -> Report:
    return Report(indicator, value, AS_OF - timedelta(days=days_old), grade, "test")


def forecast_of(predictor: Predictor, reports: list[Report], prior: Prior = JOIN) -> np.ndarray:
    evidence = evidence_from_reports(predictor.catalog, reports, AS_OF)
    return predictor.predict(evidence, prior).means()


def invasion(predictor: Predictor, reports: list[Report]) -> float:
    return float(forecast_of(predictor, reports)[2])


def single_draw(draws: ModelDraws, s: int = 0) -> ModelDraws:
    return ModelDraws(
        draws.theta[s : s + 1], draws.phi[s : s + 1], {k: v[s : s + 1] for k, v in draws.pi.items()}
    )


def test_no_reports_gives_the_prior(predictor: Predictor, draws: ModelDraws) -> None:
    for kind in ("join_war", "start_war"):
        forecast = predictor.predict(no_evidence(len(predictor.catalog.ids)), Prior(kind))
        # To single precision, the precision of the predictor's per-draw arithmetic.
        np.testing.assert_allclose(forecast.means(), draws.pi[kind].mean(axis=0), rtol=1e-6)
        assert forecast.contributions == ()
        assert forecast.effective_draws == pytest.approx(4000)
        assert forecast.prior.source == "catalog" and forecast.prior.pseudo_counts is not None
    fixed = Prior("join_war", "case", (0.7, 0.1, 0.2))
    forecast = predictor.predict(no_evidence(len(predictor.catalog.ids)), fixed)
    np.testing.assert_allclose(forecast.means(), [0.7, 0.1, 0.2], rtol=1e-6)
    assert forecast.prior.source == "case" and forecast.prior.pseudo_counts is None


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


def test_repeated_reports_saturate_at_the_indicators_own_weight(predictor: Predictor) -> None:
    catalog = predictor.catalog
    certain = evidence_from_states(
        np.array([1.0 if i == "covert_mobilization" else np.nan for i in catalog.ids])
    )
    hundred = [report("covert_mobilization", grade="C") for _ in range(100)]
    assert invasion(predictor, hundred) == pytest.approx(
        predictor.predict(certain, JOIN).mean("direct_invasion"), rel=1e-5
    )


def test_soft_value_half_is_no_evidence(predictor: Predictor) -> None:
    assert invasion(predictor, [report("pretext_claims", value=0.5)]) == pytest.approx(
        invasion(predictor, []), abs=1e-12
    )


def test_probabilities_and_intervals_are_coherent(predictor: Predictor) -> None:
    reports = [report("covert_mobilization"), report("troop_shortfall", grade="B")]
    forecast = predictor.predict(evidence_from_reports(predictor.catalog, reports, AS_OF), JOIN)
    assert forecast.means().sum() == pytest.approx(1.0)
    for p in forecast.probabilities:
        assert 0 <= p.lower < p.mean < p.upper <= 1
    assert 0 < forecast.effective_draws <= 4000
    assert forecast.pareto_k < 0.7


def test_contributions_have_the_expected_sign(predictor: Predictor) -> None:
    reports = [report("covert_mobilization"), report("troop_shortfall")]
    forecast = predictor.predict(evidence_from_reports(predictor.catalog, reports, AS_OF), JOIN)
    effect = {c.indicator: c.log_odds for c in forecast.contributions}
    assert set(effect) == {"covert_mobilization", "troop_shortfall"}
    assert effect["covert_mobilization"]["direct_invasion"] > 0.3
    assert effect["troop_shortfall"]["direct_invasion"] < -0.3


def test_contributions_are_the_log_odds_with_minus_without_each_indicator(
    catalog: Catalog, draws: ModelDraws
) -> None:
    """Each contribution is exactly logit P(k | every report) - logit P(k | all but that
    indicator's reports), on the thinned draws: here a predictor given only those draws
    forecasts both sides outright, one indicator's likelihoods fixed."""
    thinned = Predictor(catalog, draws).layout.thin
    on_thinned = Predictor(
        catalog,
        ModelDraws(
            draws.theta[thinned], draws.phi[thinned], {k: v[thinned] for k, v in draws.pi.items()}
        ),
    )
    fixed = {"pretext_claims": np.array([0.2, 0.6, 0.7])}
    reports = [
        report("covert_mobilization"),
        report("covert_mobilization", grade="D", value=0.0, days_old=20),
        report("troop_shortfall", grade="B"),
        report("target_border_fortification", grade="C", value=0.3),
        report("mobilization_drills", grade="E", days_old=5),
        report("pretext_claims"),
    ]
    forecast = Predictor(catalog, draws).predict(
        evidence_from_reports(catalog, reports, AS_OF), JOIN, fixed
    )

    def log_odds(given: list[Report]) -> np.ndarray:
        p = on_thinned.predict(evidence_from_reports(catalog, given, AS_OF), JOIN, fixed).means()
        return np.log(p) - np.log1p(-p)

    every = log_odds(reports)
    assert [c.indicator for c in forecast.contributions] != []
    for c in forecast.contributions:
        without = log_odds([r for r in reports if r.indicator != c.indicator])
        np.testing.assert_allclose(
            [c.log_odds[k] for k in OUTCOMES], every - without, rtol=1e-5, atol=1e-6
        )
    assert {c.indicator for c in forecast.contributions} == {r.indicator for r in reports}


def test_value_of_information_covers_unobserved_indicators(predictor: Predictor) -> None:
    forecast = predictor.predict(
        evidence_from_reports(predictor.catalog, [report("covert_mobilization")], AS_OF), JOIN
    )
    names = [v.indicator for v in forecast.value_of_information]
    assert "covert_mobilization" not in names
    assert len(names) == len(predictor.catalog.ids) - 1
    bits = [v.bits for v in forecast.value_of_information]
    assert bits == sorted(bits, reverse=True) and bits[0] > 0.01


def test_if_present_is_the_forecast_with_the_indicator_known_present(
    predictor: Predictor,
) -> None:
    """The branches of value of information are forecasts in their own right: the same as
    forecasting with the indicator's state known (certain evidence), on the same draws."""
    catalog = predictor.catalog
    evidence = evidence_from_reports(catalog, [report("covert_mobilization", "C")], AS_OF)
    forecast = predictor.predict(evidence, JOIN)
    for row in forecast.value_of_information[:5]:
        j = catalog.position[row.indicator]
        for value, branch in ((1.0, row.if_present), (0.0, row.if_absent)):
            present, absent = evidence.present.copy(), evidence.absent.copy()
            present[j], absent[j] = value, 1.0 - value
            known = predictor.predict(Evidence(present, absent), JOIN, explain=False)
            np.testing.assert_allclose(list(branch.values()), known.means(), rtol=1e-5)


def test_value_of_information_is_exact_mutual_information(
    catalog: Catalog, draws: ModelDraws
) -> None:
    """One draw, no evidence: the value of information is I(outcome; indicator) in bits."""
    single = single_draw(draws)
    predictor = Predictor(catalog, single)
    value = predictor.predict(no_evidence(len(catalog.ids)), JOIN).value_of_information[0]
    j = catalog.position[value.indicator]
    group = catalog.group_of[j]
    off, on = single.theta[0, j]
    p_present = off + (on - off) * single.phi[0, group]  # (K,)
    pi = single.pi["join_war"][0]
    joint = np.stack([pi * p_present, pi * (1 - p_present)])
    mutual = float((joint * np.log2(joint / joint.sum(1, keepdims=True) / joint.sum(0))).sum())
    assert value.bits == pytest.approx(mutual, rel=1e-5)  # single precision per draw


def test_a_start_war_case_has_no_patron_evidence(predictor: Predictor) -> None:
    """The patron's indicators do not exist without a patron: reports on them change nothing,
    and they are neither drivers nor worth collecting."""
    start = Prior("start_war")
    patron = [i.id for i in predictor.catalog.indicators if i.group == "patron"]
    base = [report("covert_mobilization")]
    with_patron = base + [report(i) for i in patron]
    assert forecast_of(predictor, with_patron, start) == pytest.approx(
        forecast_of(predictor, base, start), abs=1e-12
    )
    forecast = predictor.predict(
        evidence_from_reports(predictor.catalog, with_patron, AS_OF), start
    )
    named = {c.indicator for c in forecast.contributions} | {
        v.indicator for v in forecast.value_of_information
    }
    assert not named & set(patron)
    # For a join_war case they count.
    assert not np.allclose(forecast_of(predictor, with_patron), forecast_of(predictor, base))


def test_a_fixed_likelihood_takes_the_indicator_out_of_its_group(predictor: Predictor) -> None:
    """An override fixes P(present | outcome): equal values make its reports no evidence, and
    its value of information follows the fixed values (it no longer shares its group's state)."""
    catalog = predictor.catalog
    flat = {"covert_mobilization": np.array([0.3, 0.3, 0.3])}
    evidence = evidence_from_reports(catalog, [report("covert_mobilization")], AS_OF)
    fixed = predictor.predict(evidence, JOIN, flat)
    np.testing.assert_allclose(fixed.means(), forecast_of(predictor, []), rtol=1e-6)
    strong = {"covert_mobilization": np.array([0.05, 0.2, 0.9])}
    unobserved = predictor.predict(no_evidence(len(catalog.ids)), JOIN, strong)
    row = next(v for v in unobserved.value_of_information if v.indicator == "covert_mobilization")
    prior = forecast_of(predictor, [])
    assert row.p_present == pytest.approx(float(prior @ strong["covert_mobilization"]), rel=1e-6)


def test_surprise_flags_evidence_unlikely_under_every_outcome(predictor: Predictor) -> None:
    ids = predictor.catalog.ids
    restraint = {i.id for i in predictor.catalog.indicators if i.direction == "restraint"}
    typical = [report(i, value=1.0 if i in restraint else 0.0) for i in ids]
    forecast = predictor.predict(evidence_from_reports(predictor.catalog, typical, AS_OF), JOIN)
    assert not forecast.surprise
    # Every sign present at certainty, escalation and restraint alike: no outcome explains
    # pledges, dissent and shortfall beside mobilization, pretexts and warnings.
    contradictory = [report(i) for i in ids]
    forecast = predictor.predict(
        evidence_from_reports(predictor.catalog, contradictory, AS_OF), JOIN
    )
    assert forecast.surprise, forecast.surprise_z
    assert max(forecast.surprise_z.values()) < -2.33


def test_base_rate_rows_are_forecasts_under_that_prior(predictor: Predictor) -> None:
    """Each base-rate row is exactly the forecast with the prior it names, fixed."""
    evidence = evidence_from_reports(
        predictor.catalog, [report("covert_mobilization"), report("troop_shortfall", "C")], AS_OF
    )
    forecast = predictor.predict(evidence, JOIN)
    assert len(forecast.base_rates) == 2 * len(OUTCOMES)
    mean = predictor.predict(no_evidence(len(predictor.catalog.ids)), JOIN).means()
    for row in forecast.base_rates:
        k = OUTCOMES.index(row.outcome)
        prior = mean * (1 - row.base_rate) / (1 - mean[k])
        prior[k] = row.base_rate
        direct = predictor.predict(evidence, Prior("join_war", "case", tuple(prior)), explain=False)
        np.testing.assert_allclose(list(row.probabilities.values()), direct.means(), rtol=1e-5)
    low, high = (row for row in forecast.base_rates if row.outcome == "direct_invasion")
    assert low.base_rate < mean[2] < high.base_rate
    assert low.probabilities["direct_invasion"] < high.probabilities["direct_invasion"]


def test_evidence_ratios_are_the_likelihood_ratio_of_all_the_evidence(
    predictor: Predictor,
) -> None:
    """Under a uniform fixed prior the forecast is proportional to P(evidence | outcome)."""
    evidence = evidence_from_reports(predictor.catalog, [report("pretext_claims", "B")], AS_OF)
    uniform = Prior("join_war", "case", (1 / 3, 1 / 3, 1 / 3))
    forecast = predictor.predict(evidence, uniform)
    ratios = np.array(list(forecast.evidence_ratios.values()))
    assert ratios[0] == 1.0
    np.testing.assert_allclose(forecast.means(), ratios / ratios.sum(), rtol=1e-5)


def test_matches_exact_variable_elimination_in_pgmpy(catalog: Catalog, draws: ModelDraws) -> None:
    """One draw, a fixed prior: the latent group states, indicators and reports as a Bayesian
    network, queried by pgmpy's exact variable elimination. Agreement to 1e-6."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination
    from pgmpy.models import DiscreteBayesianNetwork

    single = single_draw(draws, 3)
    predictor = Predictor(catalog, single)
    prior = np.array([0.6, 0.1, 0.3])
    reports = [
        report("covert_mobilization", "C", 19),
        report("covert_mobilization", "E", 3, value=0.0),
        report("mobilization_drills", "B", 2),
        report("pretext_claims", "A", 17),
        report("troop_shortfall", "B", 0, value=0.8),
        report("officer_dissent", "D", 11),
        report("border_exercises", "F", 4, value=0.0),
        report("patron_pressure_to_enter", "B", 5),
    ]
    fixed = Prior("join_war", "case", tuple(prior))
    ours = predictor.predict(evidence_from_reports(catalog, reports, AS_OF), fixed).means()

    network = DiscreteBayesianNetwork()
    cpds = [TabularCPD("outcome", 3, prior[:, None])]
    evidence = {}
    for number, r in enumerate(reports):
        j = catalog.position[r.indicator]
        group = f"state_{catalog.indicators[j].group}"
        if group not in network.nodes():
            phi = single.phi[0, catalog.group_of[j]]
            network.add_edge("outcome", group)
            cpds.append(TabularCPD(group, 2, np.stack([1 - phi, phi]), ["outcome"], [3]))
        if r.indicator not in network.nodes():
            off, on = single.theta[0, j]
            network.add_edge(group, r.indicator)
            table = np.array([[1 - off, 1 - on], [off, on]])
            cpds.append(TabularCPD(r.indicator, 2, table, [group], [2]))
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


def test_matches_brute_force_enumeration_over_draws(catalog: Catalog, draws: ModelDraws) -> None:
    """Many draws: the forecast is sum_s P(k, evidence | s) / sum_s P(evidence | s), with every
    group's state summed out by enumeration, in double precision."""
    subset = ModelDraws(draws.theta[:50], draws.phi[:50], {k: v[:50] for k, v in draws.pi.items()})
    predictor = Predictor(catalog, subset)
    reports = [report("covert_mobilization", "B"), report("rhetoric_shift", "C", value=0.0)]
    reports += [report("provocation_warnings", "A", 5), report("public_opposition", "D")]
    evidence = evidence_from_reports(catalog, reports, AS_OF)
    ours = predictor.predict(evidence, JOIN).means()
    joint = np.zeros((50, 3))
    for s, k in itertools.product(range(50), range(3)):
        total = subset.pi["join_war"][s, k]
        for group in range(len(catalog.groups)):
            members = np.flatnonzero(catalog.group_of == group)
            term = 0.0
            for state in (0, 1):
                theta = subset.theta[s, members, state]
                factors = theta * evidence.present[members] + (1 - theta) * evidence.absent[members]
                weight = subset.phi[s, group, k] if state else 1 - subset.phi[s, group, k]
                term += weight * factors.prod()
            total *= term
        joint[s, k] = total
    np.testing.assert_allclose(ours, joint.sum(axis=0) / joint.sum(), rtol=1e-5)


def test_psis_matches_arviz(rng: np.random.Generator) -> None:
    from arviz_stats.base.array import array_stats

    log_weights = rng.standard_t(3, size=4000)
    ours, k = psis(log_weights)
    theirs, their_k = array_stats.psislw(-log_weights)  # ArviZ takes log-likelihoods
    assert k == pytest.approx(float(their_k), abs=1e-6)
    np.testing.assert_allclose(ours - np.log(np.exp(ours).sum()), theirs, atol=1e-6)


@pytest.mark.parametrize("n_draws", [1, 24, 200, 4000])
def test_pareto_k_alone_is_psis_k(rng: np.random.Generator, n_draws: int) -> None:
    """The forecast's shortcut (the tail of the weights themselves, at any scale) gives the
    diagnostic PSIS gives for their logarithms."""
    from models.psis import pareto_k

    log_weights = rng.standard_t(3, size=n_draws)
    k = psis(log_weights)[1]
    assert pareto_k(np.exp(log_weights)) == pytest.approx(k, abs=1e-12)
    assert pareto_k(np.exp(log_weights - 7.0)) == pytest.approx(k, abs=1e-12)
    assert pareto_k(np.ones(n_draws)) == psis(np.zeros(n_draws))[1] == 0.0


@pytest.mark.parametrize("spread", [1.0, 1e3, 1e29, 1e31, 1e200])
def test_the_grids_chunked_logarithms_are_its_logarithms(
    rng: np.random.Generator, spread: float
) -> None:
    """The Pareto fit's sums of logarithms, taken as logarithms of products of a few terms,
    equal the sums of each term's logarithm: across the range of spreads (the largest
    exceedance over the first quartile) the products are used for, and beyond it."""
    from models.psis import _grid_log_sums, _grid_shape

    n = 189
    x = np.sort(rng.random(n))
    quartile = int(n / 4 + 0.5) - 1
    x[quartile:] = x[quartile] * spread ** np.linspace(0.0, 1.0, n - quartile)
    b = _grid_shape(n) / (3.0 * x[quartile]) + 1.0 / x[-1]
    direct = np.log1p(-np.multiply.outer(b, x)).sum(axis=1)
    np.testing.assert_allclose(_grid_log_sums(b, x, spread), direct, rtol=1e-13, atol=1e-12)


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


def test_draws_must_match_the_catalog(catalog: Catalog, draws: ModelDraws) -> None:
    with pytest.raises(ValueError, match="do not match the catalog"):
        Predictor(catalog, ModelDraws(draws.theta[:, :5], draws.phi, draws.pi))
    with pytest.raises(ValueError, match="kinds"):
        Predictor(catalog, ModelDraws(draws.theta, draws.phi, {"join_war": draws.pi["join_war"]}))


@pytest.mark.parametrize("scale", [1.0, 1e-15])
def test_the_log_likelihood_is_the_sum_of_the_groups_logs_even_below_single_precision(
    scale: float,
) -> None:
    """One logarithm of the groups' product, or (where that product would underflow single
    precision: three groups of 1e-15 make 1e-45) the sum of their logarithms: the same."""
    rng = np.random.default_rng(7)
    terms = (rng.uniform(0.05, 1.0, size=(3, 3, 64)) * scale).astype(np.float32)
    expected = np.log(terms.astype(np.float64)).sum(axis=0)
    got = _log_of_product(terms)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
