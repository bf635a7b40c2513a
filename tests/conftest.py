"""Shared fixtures: the real catalog, a seeded rng, the served (synthetic) artifact, and one
real fit per session for the tests about fitting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.artifact import Artifact, save_artifact
from models.catalog import Catalog, load_catalog
from models.reference import load_reference

from .sampling import TEST_DRAWS, TEST_TUNE
from .synthetic import write_synthetic_artifact


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20220719)


@pytest.fixture(scope="session")
def artifact_path(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact the service, the CLI and the report serve in tests: synthetic draws, sealed
    as a fit would seal them (`tests.synthetic`), written once per session."""
    return write_synthetic_artifact(catalog, tmp_path_factory.mktemp("model") / "posterior.npz")


@pytest.fixture(scope="session")
def fitted(catalog: Catalog) -> tuple[Artifact, object]:
    """One real fit on the shipped reference cases, shared by the tests about fitting (`slow`)."""
    from models.agreement import load_second_coding
    from models.fit import SamplerSettings, fit

    reference = load_reference(catalog)
    settings = SamplerSettings(draws=TEST_DRAWS, tune=TEST_TUNE, chains=4)
    return fit(
        catalog, reference, settings, progress=False, second_coding=load_second_coding(catalog)
    )


@pytest.fixture(scope="session")
def fitted_artifact_path(
    fitted: tuple[Artifact, object], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    path = tmp_path_factory.mktemp("fitted") / "posterior.npz"
    save_artifact(fitted[0], path)
    return path
