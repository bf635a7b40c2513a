"""Fitting: the generative model in PyMC, sampled with nutpie, checked, calibrated, saved.

The model (DESIGN.md):
    pi ~ Dirichlet(catalog pseudo-counts)                                  outcome base rates
    logit theta[j, k] = logit p[j, k] + scale * sd[j, k] * z[j, k]         emissions
        p: elicited P(present | outcome); sd matches a Beta prior of the elicited equivalent
        sample size n (sd = 1 / sqrt(p (1 - p) (n + 1)) on the logit scale);
        z ~ Normal(0, 1); scale ~ LogNormal(0, 0.5) is shared by all indicators: partial pooling
        of how far the elicitation is off, learnt from the reference cases.
    each reference case i counts as a fraction of a case of each outcome: its label confidence c
    for the recorded outcome, (1 - c) / 2 for each other (`ReferenceSet.soft_labels`, w[i, k]):
        log L = sum_i sum_k w[i, k] * (log pi[k] + sum over coded j of
                                       x[i, j] log theta[j, k] + (1 - x[i, j]) log(1 - theta[j, k]))
    Fractional membership takes the coder's confidence at its word. The generative alternative
    (the recorded label as a noisy copy of a latent outcome, summed out) was tried first: with the
    rare, always-disputed false_flag cases it explained them away (pi[false_flag] fell to 0.03) and
    lost to the base rate out of sample (LOO log score 1.18 against 0.99; this model: 0.96).
The within-group correlation r is not part of the likelihood; it is chosen afterwards by PSIS-LOO
(`models.calibration`). This is the only module that imports pymc.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
import sys
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from models.artifact import Artifact, make_artifact
from models.calibration import base_rate_loo, case_log_likelihood, choose_correlation
from models.catalog import OUTCOMES, Catalog
from models.predict import Predictor
from models.reference import ReferenceSet

RHAT_MAX = 1.01
ESS_BULK_MIN = 400.0
ELICITATION_SCALE_PRIOR_SD = 0.5
FREE_VARIABLES = ("pi", "elicitation_scale", "z")


@dataclass(frozen=True)
class SamplerSettings:
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int = 2
    target_accept: float = 0.9
    seed: int = 20220719


@dataclass(frozen=True)
class Diagnostics:
    max_rhat: float
    min_ess_bulk: float
    divergences: int
    passed: bool
    summary: str


def logit_prior_sd(catalog: Catalog) -> np.ndarray:
    """Logit-scale sd equivalent to a Beta prior with the elicited mean and sample size."""
    p = catalog.likelihoods
    return np.asarray(1.0 / np.sqrt(p * (1 - p) * (catalog.sample_sizes[:, None] + 1.0)))


def build_model(catalog: Catalog, reference: ReferenceSet) -> Any:
    """The PyMC model of the reference cases, with named coords for every variable.

    The log-likelihood is linear in the soft labels, so the cases enter through their weighted
    counts: per indicator and outcome, how many (fractional) cases coded it present and absent.
    The graph is then a few elementwise ops, which nutpie compiles in ~4 s rather than ~6 s with
    the case-by-indicator matrices (numba's compile cannot be cached across processes).
    """
    import pymc as pm
    import pytensor.tensor as pt

    coords = {"outcome": list(OUTCOMES), "indicator": list(catalog.ids)}
    weights = reference.soft_labels
    present_counts = reference.coded_present.T @ weights
    absent_counts = reference.coded_absent.T @ weights
    with pm.Model(coords=coords) as model:
        pi = pm.Dirichlet("pi", a=catalog.outcome_prior.pseudo_counts.as_array(), dims="outcome")
        scale = pm.LogNormal("elicitation_scale", 0.0, ELICITATION_SCALE_PRIOR_SD)
        z = pm.Normal("z", 0.0, 1.0, dims=("indicator", "outcome"))
        logit_theta = elicited_logit(catalog) + scale * logit_prior_sd(catalog) * z
        log_theta = -pt.softplus(-logit_theta)  # log sigmoid, stable in both tails
        log_not_theta = -pt.softplus(logit_theta)
        cases = (present_counts * log_theta + absent_counts * log_not_theta).sum()
        pm.Potential("cases", cases + (weights.sum(axis=0) * pt.log(pi)).sum())
    return model


def elicited_logit(catalog: Catalog) -> np.ndarray:
    p = catalog.likelihoods
    return np.asarray(np.log(p / (1 - p)))


def sample(model: Any, catalog: Catalog, settings: SamplerSettings, progress: bool = True) -> Any:
    """Compile with nutpie (numba backend) and sample. Returns a DataTree with theta added.

    theta is derived here in numpy rather than as a pm.Deterministic: nutpie would otherwise
    compile a second numba function just to store it.
    """
    import nutpie

    compiled = nutpie.compile_pymc_model(model, backend="numba", var_names=list(FREE_VARIABLES))
    trace = nutpie.sample(
        compiled,
        draws=settings.draws,
        tune=settings.tune,
        chains=settings.chains,
        cores=settings.cores,
        seed=settings.seed,
        target_accept=settings.target_accept,
        progress_bar=progress,
    )
    posterior = trace["posterior"]
    z = posterior["z"].transpose("chain", "draw", "indicator", "outcome")
    spread = logit_prior_sd(catalog) * z * posterior["elicitation_scale"]
    trace["posterior"]["theta"] = 1.0 / (1.0 + np.exp(-(elicited_logit(catalog) + spread)))
    return trace


def diagnose(trace: Any) -> Diagnostics:
    """r-hat, bulk ESS and divergences over the free parameters and theta."""
    import arviz as az

    names = [*FREE_VARIABLES, "theta"]
    rhat = az.rhat(trace, var_names=names).to_dataset()
    ess = az.ess(trace, var_names=names, method="bulk").to_dataset()
    max_rhat = max(float(rhat[name].max()) for name in names)
    min_ess = min(float(ess[name].min()) for name in names)
    divergences = int(trace["sample_stats"]["diverging"].sum())
    passed = max_rhat <= RHAT_MAX and min_ess >= ESS_BULK_MIN and divergences == 0
    summary = f"max r-hat {max_rhat:.3f}, min bulk ESS {min_ess:.0f}, {divergences} divergences"
    return Diagnostics(max_rhat, min_ess, divergences, passed, summary)


def posterior_draws(trace: Any) -> tuple[np.ndarray, np.ndarray]:
    """pi (draw, outcome) and theta (draw, indicator, outcome), chains stacked."""
    posterior = trace["posterior"]
    pi = posterior["pi"].transpose("chain", "draw", "outcome").to_numpy()
    theta = posterior["theta"].transpose("chain", "draw", "indicator", "outcome").to_numpy()
    return pi.reshape(-1, pi.shape[-1]), theta.reshape(-1, *theta.shape[-2:])


def fit(
    catalog: Catalog,
    reference: ReferenceSet,
    settings: SamplerSettings | None = None,
    progress: bool = True,
) -> tuple[Artifact, Any]:
    """Sample, diagnose, calibrate and seal an artifact. Returns it with the raw DataTree."""
    settings = settings or SamplerSettings()
    started = time.perf_counter()
    trace = sample(build_model(catalog, reference), catalog, settings, progress)
    diagnostics = diagnose(trace)
    pi, theta = posterior_draws(trace)
    naive = Predictor(catalog, pi, theta, correlation=0.0)
    case_log_lik = case_log_likelihood(pi, theta, reference)
    best, curve = choose_correlation(naive, reference, case_log_lik)
    base_rate = base_rate_loo(reference, catalog.outcome_prior.pseudo_counts.as_array())
    meta = {
        "fitted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "catalog_sha256": catalog.fingerprint,
        "reference_sha256": reference.fingerprint,
        "reference_cases": reference.size,
        "indicators": list(catalog.ids),
        "outcomes": list(OUTCOMES),
        "sampler": {"name": "nutpie", **asdict(settings)},
        "versions": _versions(),
        "diagnostics": asdict(diagnostics),
        "loo": {
            "correlation": best.correlation,
            "model": best.scores.as_dict(),
            "naive_product": curve[0].scores.as_dict(),
            "base_rate": base_rate.as_dict(),
            "max_pareto_k": float(best.pareto_k.max()),
            "log_score_by_correlation": {
                str(result.correlation): result.scores.log for result in curve
            },
        },
        "fit_seconds": round(time.perf_counter() - started, 2),
    }
    return make_artifact(pi, theta, best.correlation, meta), trace


def _versions() -> dict[str, str]:
    packages = ("numpy", "pymc", "pytensor", "nutpie", "arviz", "escalation-forecast")
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in packages:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions
