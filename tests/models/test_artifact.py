"""Artifact I/O: round trip, and refusal of corrupt, stale or failed artifacts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.artifact import Artifact, load_artifact, make_artifact, save_artifact
from models.catalog import Catalog
from models.errors import ArtifactError

from ..files import ROOT
from ..synthetic import synthetic_draws

REFERENCE = "reference-fingerprint"


def synthetic(catalog: Catalog, passed: bool = True) -> Artifact:
    meta = {
        "catalog_sha256": catalog.fingerprint,
        "reference_sha256": REFERENCE,
        "diagnostics": {"passed": passed, "summary": "max r-hat 1.05"},
    }
    return make_artifact(synthetic_draws(catalog, n_draws=200, seed=1), meta)


def test_round_trip(tmp_path: Path, catalog: Catalog) -> None:
    artifact = synthetic(catalog)
    save_artifact(artifact, tmp_path / "a.npz")
    loaded = load_artifact(tmp_path / "a.npz", catalog, REFERENCE)
    assert loaded.id == artifact.id and loaded.id.startswith("m-")
    np.testing.assert_array_equal(loaded.draws.theta, artifact.draws.theta)
    np.testing.assert_array_equal(loaded.draws.phi, artifact.draws.phi)
    for kind, pi in artifact.draws.pi.items():
        np.testing.assert_array_equal(loaded.draws.pi[kind], pi)


def test_missing_artifact_says_to_fit(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(ArtifactError, match="no model artifact .* run `forecast fit`"):
        load_artifact(tmp_path / "none.npz", catalog, REFERENCE)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_corrupt_artifact_is_refused(tmp_path: Path, catalog: Catalog, damage: str) -> None:
    path = tmp_path / "a.npz"
    save_artifact(synthetic(catalog), path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not an artifact at all")
    else:
        with np.load(path) as arrays:
            contents = {name: arrays[name] for name in arrays.files}
        contents["theta"] = contents["theta"] * 0.99  # a silent change to the draws
        np.savez(path, **contents)
    with pytest.raises(ArtifactError, match="corrupt"):
        load_artifact(path, catalog, REFERENCE)


def test_stale_artifact_is_refused(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "a.npz"
    save_artifact(synthetic(catalog), path)
    with pytest.raises(ArtifactError, match="stale, the reference cases changed"):
        load_artifact(path, catalog, "another-fingerprint")
    changed = Catalog.model_validate({**catalog.model_dump(), "horizon_days": 60})
    with pytest.raises(ArtifactError, match="stale, the catalog changed"):
        load_artifact(path, changed, REFERENCE)


def test_draws_outside_their_range_are_refused(tmp_path: Path, catalog: Catalog) -> None:
    """theta with the state on below off, or a probability of exactly 1, is corrupt."""
    path = tmp_path / "a.npz"
    draws = synthetic_draws(catalog, n_draws=200, seed=1)
    for theta in (draws.theta[:, :, ::-1], np.where(draws.theta > 0.5, 1.0, draws.theta)):
        bad = make_artifact(
            dataclasses.replace(draws, theta=np.ascontiguousarray(theta)),
            {
                "catalog_sha256": catalog.fingerprint,
                "reference_sha256": REFERENCE,
                "diagnostics": {"passed": True, "summary": "ok"},
            },
        )
        save_artifact(bad, path)
        with pytest.raises(ArtifactError, match="corrupt draws of theta"):
            load_artifact(path, catalog, REFERENCE)


def test_failed_diagnostics_are_not_served(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "a.npz"
    save_artifact(synthetic(catalog, passed=False), path)
    with pytest.raises(ArtifactError, match=r"failed its sampler diagnostics \(max r-hat 1.05\)"):
        load_artifact(path, catalog, REFERENCE)


def test_loading_and_predicting_never_import_pymc(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "a.npz"
    save_artifact(synthetic(catalog), path)
    script = f"""
import sys
from pathlib import Path
from models.artifact import load_artifact
from models.catalog import load_catalog
from models.evidence import no_evidence
from models.forecast import Prior
catalog = load_catalog()
artifact = load_artifact(Path({str(path)!r}), catalog, {REFERENCE!r})
artifact.predictor(catalog).predict(no_evidence(len(catalog.ids)), Prior("join_war"))
heavy = sorted(m for m in ("pymc", "pytensor", "arviz", "xarray", "nutpie") if m in sys.modules)
print(heavy)
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
