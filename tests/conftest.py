"""Shared fixtures: the real catalog, a seeded rng, synthetic catalogs, one real fit per session."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from models.artifact import Artifact, save_artifact
from models.catalog import KINDS, OUTCOMES, Catalog, load_catalog
from models.elicitation import centres, sigmoid, state_probabilities
from models.predict import ModelDraws
from models.reference import ReferenceSet, load_reference

ROOT = Path(__file__).resolve().parents[1]

# Sampler settings for tests: sampling takes well under a second (compiling dominates), so
# there is no reason to sample less than `forecast fit` does.
TEST_DRAWS = 1000
TEST_TUNE = 1500


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20220719)


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


def broken_copy(source: Path, directory: Path, old: str, new: str) -> Path:
    """A copy of `source` in `directory` with the first `old` replaced by `new` (which must be
    there: a test that breaks nothing would pass for the wrong reason)."""
    text = source.read_text(encoding="utf-8")
    assert old in text, old
    path = directory / source.name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    """The 1-based number of the first line of `path` containing `fragment`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if fragment in line)


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


@pytest.fixture(scope="session")
def fitted(catalog: Catalog) -> tuple[Artifact, object]:
    """One real fit on the shipped reference cases, shared by the whole session."""
    from models.agreement import load_second_coding
    from models.fit import SamplerSettings, fit

    reference = load_reference(catalog)
    settings = SamplerSettings(draws=TEST_DRAWS, tune=TEST_TUNE, chains=4)
    return fit(
        catalog, reference, settings, progress=False, second_coding=load_second_coding(catalog)
    )


@pytest.fixture(scope="session")
def artifact_path(
    fitted: tuple[Artifact, object], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("model") / "posterior.npz"
    save_artifact(fitted[0], path)
    return path
