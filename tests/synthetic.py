"""Synthetic models for the tests: catalogs, reference sets, posterior draws and whole
artifacts built without sampling. Only the tests about fitting sample for real (`slow`); every
other test serves one of these."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.agreement import agreement, load_second_coding
from models.artifact import Artifact, save_artifact
from models.catalog import KINDS, OUTCOMES, Catalog
from models.draws import ModelDraws
from models.elicitation import centres, elicited_logit_sd, logit, sigmoid, state_probabilities
from models.evaluation import evaluate
from models.fit import Diagnostics, FitRecord, SamplerSettings, seal
from models.reference import ReferenceSet, load_reference

SYNTHETIC_DRAWS = 1000
"""Draws in the tests' served artifact: a quarter of a fit's, forecasts four times cheaper."""


def make_catalog(
    likelihoods: np.ndarray,
    groups: Sequence[str],
    sample_size: float = 6.0,
    half_life: float = 30.0,
    pseudo_counts: Sequence[float] = (5.0, 1.0, 2.0),
) -> Catalog:
    """A valid synthetic catalog: one indicator per row of `likelihoods` (indicator, outcome),
    both kinds with the same prior, every group in both kinds."""
    indicators = [
        {
            "id": f"sign_{j}",
            "label": f"Sign {j}",
            "group": groups[j],
            "direction": "ambiguous",
            "article": "synthetic",
            "likelihood": dict(zip(OUTCOMES, map(float, row), strict=True)),
            "equivalent_sample_size": sample_size,
            "half_life_days": half_life,
            "rationale": "synthetic",
        }
        for j, row in enumerate(likelihoods)
    ]
    prior = {
        "pseudo_counts": dict(zip(OUTCOMES, pseudo_counts, strict=True)),
        "tally": dict(zip(OUTCOMES, pseudo_counts, strict=True)),
        "frame": "synthetic",
        "rationale": "synthetic",
        "sources": ["synthetic"],
    }
    return Catalog.model_validate(
        {
            "version": 2,
            "horizon_days": 90,
            "outcome_priors": dict.fromkeys(KINDS, prior),
            "groups": {name: {"label": name, "state": name} for name in dict.fromkeys(groups)},
            "indicators": indicators,
        }
    )


def synthetic_draws(
    catalog: Catalog, n_draws: int = 4000, seed: int = 7, spread: float = 0.4
) -> ModelDraws:
    """Draws scattered around the catalog's elicitation, as a posterior would be: the prior's
    centres (`models.elicitation`) plus noise, and each kind's population prior."""
    rng = np.random.default_rng(seed)
    prior = centres(catalog)
    n_groups, n_indicators = prior.eta.shape[0], prior.a.size
    eta = prior.eta + spread * rng.standard_normal((n_draws, n_groups, len(OUTCOMES)))
    a = prior.a + spread * rng.standard_normal((n_draws, n_indicators))
    u = prior.u + spread * rng.standard_normal((n_draws, n_indicators))
    theta = np.clip(state_probabilities(a, u), 1e-6, 1 - 1e-6)
    pi = {kind: rng.dirichlet(catalog.prior_counts(kind), n_draws) for kind in KINDS}
    return ModelDraws(theta, sigmoid(eta), pi)


def make_reference(
    states: np.ndarray,
    labels: np.ndarray,
    confidence: float,
    families: Sequence[str] | None = None,
) -> ReferenceSet:
    """A reference set straight from arrays (simulation studies): start_war cases, each its
    own family unless `families` says otherwise."""
    n = len(labels)
    return ReferenceSet(
        cases=(),
        states=states,
        labels=labels,
        confidence=np.full(n, confidence),
        fingerprint="simulated",
        kinds=("start_war",) * n,
        families=tuple(families) if families is not None else tuple(f"case-{i}" for i in range(n)),
    )


def independent_draws(catalog: Catalog, n_draws: int, seed: int, spread: float = 0.4) -> np.ndarray:
    """Draws of the comparison model's theta (draw, indicator, outcome), scattered around the
    elicited likelihoods on the logit scale by their elicited spread."""
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((n_draws, *catalog.likelihoods.shape))
    return sigmoid(logit(catalog.likelihoods) + spread * elicited_logit_sd(catalog) * noise)


def synthetic_artifact(catalog: Catalog, seed: int = 3) -> Artifact:
    """An artifact for the shipped catalog and reference cases, as `forecast fit` would seal it,
    with synthetic draws in place of sampled ones: its evaluation is the real evaluation code run
    on them (every refit answered by the same draws, so it is in sample)."""
    reference = load_reference(catalog)
    draws = synthetic_draws(catalog, n_draws=SYNTHETIC_DRAWS, seed=seed)
    baseline = independent_draws(catalog, SYNTHETIC_DRAWS, seed + 1)
    agreed = agreement(catalog, reference, load_second_coding(catalog))
    evaluation = evaluate(
        catalog, reference, draws, baseline, lambda _: draws, lambda _: baseline, agreed.reliability
    )
    unsampled = Diagnostics(1.0, float(SYNTHETIC_DRAWS), 0, True, "synthetic draws, not sampled")
    scale = np.ones(SYNTHETIC_DRAWS)
    record = FitRecord(SamplerSettings(), unsampled, unsampled, scale, agreed, evaluation, 0.0)
    return seal(catalog, reference, draws, record)


def write_synthetic_artifact(catalog: Catalog, path: Path) -> Path:
    save_artifact(synthetic_artifact(catalog), path)
    return path
