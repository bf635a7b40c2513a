"""Shared fixtures: the real catalog, a seeded rng, synthetic catalogs, one real fit per session."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from models.artifact import Artifact, save_artifact
from models.catalog import OUTCOMES, Catalog, load_catalog
from models.reference import ReferenceSet, load_reference

ROOT = Path(__file__).resolve().parents[1]

# Sampler settings for tests: sampling takes well under a second (compiling dominates), so
# there is no reason to sample less than `forecast fit` does.
TEST_DRAWS = 1000
TEST_TUNE = 1000


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
    """A valid synthetic catalog: one indicator per row of `likelihoods` (indicator, outcome)."""
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
    return Catalog.model_validate(
        {
            "version": 1,
            "horizon_days": 90,
            "outcome_prior": {
                "pseudo_counts": dict(zip(OUTCOMES, pseudo_counts, strict=True)),
                "rationale": "synthetic",
            },
            "groups": {name: name for name in sorted(set(groups))},
            "indicators": indicators,
        }
    )


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


def make_reference(states: np.ndarray, labels: np.ndarray, confidence: float) -> ReferenceSet:
    """A reference set straight from arrays (simulation studies)."""
    return ReferenceSet(
        cases=(),
        states=states,
        labels=labels,
        confidence=np.full(len(labels), confidence),
        fingerprint="simulated",
    )


@pytest.fixture(scope="session")
def fitted(catalog: Catalog) -> tuple[Artifact, object]:
    """One real fit on the shipped reference cases, shared by the whole session."""
    from models.fit import SamplerSettings, fit

    reference = load_reference(catalog)
    settings = SamplerSettings(draws=TEST_DRAWS, tune=TEST_TUNE, chains=4)
    return fit(catalog, reference, settings, progress=False)


@pytest.fixture(scope="session")
def artifact_path(
    fitted: tuple[Artifact, object], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("model") / "posterior.npz"
    save_artifact(fitted[0], path)
    return path
