"""Fitting really samples: recovery, agreement with PyMC's own predictive, correlation treatment."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from models.calibration import case_log_likelihood, choose_correlation
from models.catalog import Catalog
from models.evidence import Report, evidence_from_reports, evidence_from_states, reliability
from models.fit import SamplerSettings, fit, posterior_draws
from models.predict import Predictor
from models.reference import ReferenceSet
from models.scoring import score

from ..conftest import TEST_DRAWS, TEST_TUNE, make_catalog, make_reference

pytestmark = pytest.mark.slow

SETTINGS = SamplerSettings(draws=TEST_DRAWS, tune=TEST_TUNE, chains=4, seed=11)


def simulate(
    rng: np.random.Generator,
    theta: np.ndarray,
    pi: np.ndarray,
    n_cases: int,
    groups: np.ndarray | None = None,
    factor_sd: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cases from the model: outcome, indicator states (a shared per-group factor when
    factor_sd > 0 makes indicators of one group move together), and labels (the outcome)."""
    outcome = rng.choice(3, n_cases, p=pi)
    logit = np.log(theta / (1 - theta))[:, outcome].T  # (case, indicator)
    if factor_sd > 0 and groups is not None:
        factor = rng.normal(0.0, factor_sd, (n_cases, groups.max() + 1))
        logit = logit + factor[:, groups]
    states = (rng.random(logit.shape) < 1 / (1 + np.exp(-logit))).astype(float)
    return outcome, states, outcome.copy()


@pytest.fixture(scope="module")
def recovery() -> dict[str, Any]:
    """A fit on 300 cases simulated with known emissions, elicited priors deliberately off."""
    rng = np.random.default_rng(5)
    n_indicators = 12
    truth = rng.uniform(0.08, 0.92, (n_indicators, 3))
    elicited = np.clip(truth + rng.normal(0, 0.12, truth.shape), 0.05, 0.95)
    catalog = make_catalog(elicited, [f"g{j}" for j in range(n_indicators)], sample_size=4.0)
    pi = np.array([0.5, 0.2, 0.3])
    _, states, labels = simulate(rng, truth, pi, 300)
    states[rng.random(states.shape) < 0.15] = np.nan  # some indicators not coded
    # Disputed cases: 15% of labels are replaced by a random outcome and flagged as such by a
    # low confidence; the fit must not be thrown off by them.
    disputed = rng.random(300) < 0.15
    labels = np.where(disputed, rng.integers(0, 3, 300), labels)
    reference = make_reference(states, labels, confidence=0.95)
    reference = dataclasses.replace(reference, confidence=np.where(disputed, 0.4, 0.95))
    artifact, trace = fit(catalog, reference, SETTINGS, progress=False)
    return {
        "catalog": catalog,
        "truth": truth,
        "elicited": elicited,
        "pi": pi,
        "artifact": artifact,
        "trace": trace,
    }


def test_fit_recovers_simulated_emissions_with_stated_coverage(recovery: dict[str, Any]) -> None:
    artifact = recovery["artifact"]
    assert artifact.meta["diagnostics"]["passed"], artifact.meta["diagnostics"]
    low, high = np.quantile(artifact.theta, [0.05, 0.95], axis=0)
    covered = (low <= recovery["truth"]) & (recovery["truth"] <= high)
    # 36 intervals at a nominal 90%: 0.75 is ~3 binomial standard errors below.
    assert covered.mean() >= 0.75, covered.mean()
    posterior_error = np.abs(artifact.theta.mean(axis=0) - recovery["truth"]).mean()
    elicited_error = np.abs(recovery["elicited"] - recovery["truth"]).mean()
    assert posterior_error < 0.6 * elicited_error
    pi_low, pi_high = np.quantile(artifact.pi, [0.05, 0.95], axis=0)
    assert np.all((pi_low <= recovery["pi"]) & (recovery["pi"] <= pi_high))


def test_predictor_agrees_with_pymc_posterior_predictive(recovery: dict[str, Any]) -> None:
    """Condition PyMC's predictive samples on the reports by rejection: that is exactly what the
    predictor's per-draw sum over outcomes plus importance weights computes."""
    import pymc as pm

    catalog: Catalog = recovery["catalog"]
    as_of = np.datetime64("2022-07-19").astype(object)
    reports = [
        Report("sign_0", 1.0, as_of, "B"),
        Report("sign_1", 0.0, as_of, "C"),
        Report("sign_2", 1.0, as_of, "A"),
        Report("sign_2", 1.0, as_of, "D"),
    ]
    indicator = np.array([catalog.position[r.indicator] for r in reports])
    rho = np.array([reliability(r.grade, 0, 30.0) for r in reports])
    observed = np.array([r.value for r in reports])
    replicates = 60
    with pm.Model():
        pi = pm.Dirichlet("pi", a=np.ones(3))
        theta = pm.Beta("theta", 1.0, 1.0, shape=(len(catalog.ids), 3))
        outcome = pm.Categorical("y_new", p=pi, shape=replicates)
        states = pm.Bernoulli("x_new", p=theta[np.unique(indicator)][:, outcome])
        row = np.searchsorted(np.unique(indicator), indicator)
        pm.Bernoulli("reports", p=rho[:, None] * states[row] + (1 - rho[:, None]) / 2)
        predictive = pm.sample_posterior_predictive(
            recovery["trace"], var_names=["y_new", "reports"], random_seed=3, progressbar=False
        )["posterior_predictive"]
    simulated = predictive["reports"].to_numpy()  # (chain, draw, report, replicate)
    outcomes = predictive["y_new"].to_numpy()  # (chain, draw, replicate)
    match = np.all(simulated == observed[None, None, :, None], axis=2)
    accepted = outcomes[match]
    empirical = np.bincount(accepted, minlength=3) / accepted.size

    artifact = recovery["artifact"]
    predictor = Predictor(catalog, artifact.pi, artifact.theta, correlation=0.0)
    exact = predictor.predict(evidence_from_reports(catalog, reports, as_of)).means()
    standard_error = np.sqrt(exact * (1 - exact) / accepted.size)
    assert accepted.size > 5000
    np.testing.assert_array_less(np.abs(empirical - exact), 4 * standard_error + 1e-3)


def test_correlation_treatment_beats_naive_product_on_held_out_data() -> None:
    """Indicators of a group share a per-case factor: multiplying them as independent is
    overconfident. The discount chosen by LOO on training cases must score better on new ones."""
    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(3), 4)
    truth = rng.uniform(0.15, 0.85, (12, 3))
    catalog = make_catalog(truth, [f"g{g}" for g in groups], sample_size=4.0)
    pi = np.array([0.5, 0.2, 0.3])
    simulated = {
        name: simulate(rng, truth, pi, n, groups=groups, factor_sd=2.5)
        for name, n in (("train", 150), ("test", 600))
    }
    _, states, labels = simulated["train"]
    reference = make_reference(states, labels, confidence=1.0)
    artifact, _ = fit(catalog, reference, SETTINGS, progress=False)
    naive = Predictor(catalog, artifact.pi, artifact.theta, correlation=0.0)
    best, _ = choose_correlation(
        naive, reference, case_log_likelihood(artifact.pi, artifact.theta, reference)
    )
    assert best.correlation > 0

    outcome, test_states, _ = simulated["test"]
    truth_onehot = np.eye(3)[outcome]

    def held_out(r: float) -> float:
        forecasts = np.stack([naive.means(evidence_from_states(s), r) for s in test_states])
        return score(forecasts, truth_onehot).log

    assert held_out(best.correlation) < held_out(0.0) - 0.02


def test_real_fit_passes_diagnostics_and_beats_the_base_rate(fitted: tuple[Any, Any]) -> None:
    artifact, trace = fitted
    diagnostics = artifact.meta["diagnostics"]
    assert diagnostics["passed"], diagnostics
    assert diagnostics["max_rhat"] <= 1.01 and diagnostics["min_ess_bulk"] >= 400
    assert diagnostics["divergences"] == 0
    loo = artifact.meta["loo"]
    assert loo["model"]["log"] < loo["base_rate"]["log"]
    assert loo["model"]["brier"] < loo["base_rate"]["brier"]
    assert loo["model"]["rps"] < loo["base_rate"]["rps"]
    assert artifact.meta["reference_cases"] >= 30
    pi, theta = posterior_draws(trace)
    np.testing.assert_array_equal(pi, artifact.pi)
    assert theta.shape == (TEST_DRAWS * 4, len(artifact.meta["indicators"]), 3)


def test_reference_cases_are_forecast_above_chance(
    fitted: tuple[Any, Any], catalog: Catalog
) -> None:
    """In-sample sanity: the recorded outcome gets more than the base rate on average."""
    from models.reference import load_reference

    artifact, _ = fitted
    reference: ReferenceSet = load_reference(catalog)
    predictor = artifact.predictor(catalog)
    forecasts = np.stack([predictor.means(evidence_from_states(s)) for s in reference.states])
    hit = forecasts[np.arange(len(reference.labels)), reference.labels]
    base = artifact.pi.mean(axis=0)[reference.labels]
    assert hit.mean() > base.mean()
