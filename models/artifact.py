"""The posterior artifact: draws plus provenance, in one .npz file that loads without pymc.

Loading checks everything a server must not get wrong: the file is whole (array checksum), was
written by this format, was fitted on the catalog and reference cases now on disk, and passed its
sampler diagnostics. Any failure is an ArtifactError saying what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.catalog import OUTCOMES, Catalog
from models.errors import ArtifactError
from models.predict import Predictor

ARTIFACT_FORMAT = 1
DEFAULT_ARTIFACT = Path("var/model/posterior.npz")


@dataclass(frozen=True)
class Artifact:
    """Posterior draws of the outcome prior `pi` (draw, outcome) and emissions `theta`
    (draw, indicator, outcome), the fitted within-group `correlation`, and provenance `meta`."""

    pi: np.ndarray
    theta: np.ndarray
    correlation: float
    meta: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.meta["artifact_id"])

    def predictor(self, catalog: Catalog) -> Predictor:
        return Predictor(catalog, self.pi, self.theta, self.correlation)


def arrays_digest(pi: np.ndarray, theta: np.ndarray, correlation: float) -> str:
    digest = hashlib.sha256()
    for array in (pi, theta, np.array([correlation])):
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def make_artifact(
    pi: np.ndarray, theta: np.ndarray, correlation: float, meta: dict[str, Any]
) -> Artifact:
    """Seal draws and provenance: add the checksum and an id derived from the content."""
    digest = arrays_digest(pi, theta, correlation)
    sealed = {**meta, "format": ARTIFACT_FORMAT, "arrays_sha256": digest}
    sealed["artifact_id"] = (
        "m-" + hashlib.sha256(json.dumps(sealed, sort_keys=True).encode()).hexdigest()[:12]
    )
    return Artifact(pi, theta, correlation, sealed)


def save_artifact(artifact: Artifact, path: Path) -> None:
    """Write atomically: a reader never sees a half-written artifact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(
                handle,
                pi=artifact.pi,
                theta=artifact.theta,
                correlation=np.array(artifact.correlation),
                meta=np.array(json.dumps(artifact.meta, sort_keys=True)),
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load_artifact(path: Path, catalog: Catalog, reference_fingerprint: str) -> Artifact:
    """Load and check an artifact against the current catalog and reference data."""
    artifact = _read(path)
    meta = artifact.meta
    if meta.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{path}: written by an incompatible version; run `forecast fit`")
    if arrays_digest(artifact.pi, artifact.theta, artifact.correlation) != meta.get(
        "arrays_sha256"
    ):
        raise ArtifactError(f"{path}: corrupt (checksum mismatch); run `forecast fit`")
    stale = _staleness(meta, catalog, reference_fingerprint)
    if stale:
        raise ArtifactError(f"{path}: stale, {stale} since it was fitted; run `forecast fit`")
    _check_draws(path, artifact, catalog)
    diagnostics = meta.get("diagnostics", {})
    if not diagnostics.get("passed", False):
        raise ArtifactError(
            f"{path}: failed its sampler diagnostics ({diagnostics.get('summary', 'unknown')}); "
            "refit with more draws"
        )
    return artifact


def _read(path: Path) -> Artifact:
    if not path.is_file():
        raise ArtifactError(f"no model artifact at {path}; run `forecast fit`")
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return Artifact(
                np.array(data["pi"]),
                np.array(data["theta"]),
                float(data["correlation"]),
                meta,
            )
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError(
            f"{path}: corrupt or not an artifact ({exc}); run `forecast fit`"
        ) from None


def _staleness(meta: dict[str, Any], catalog: Catalog, reference_fingerprint: str) -> str:
    if meta.get("catalog_sha256") != catalog.fingerprint:
        return "the catalog changed"
    if meta.get("reference_sha256") != reference_fingerprint:
        return "the reference cases changed"
    return ""


def _check_draws(path: Path, artifact: Artifact, catalog: Catalog) -> None:
    n_draws = artifact.pi.shape[0]
    expected = {"pi": (n_draws, len(OUTCOMES)), "theta": (n_draws, len(catalog.ids), len(OUTCOMES))}
    for name, shape in expected.items():
        array = getattr(artifact, name)
        if array.shape != shape or not np.all((array > 0) & (array < 1)):
            raise ArtifactError(f"{path}: corrupt draws of {name}; run `forecast fit`")
    if not 0.0 <= artifact.correlation < 1.0:
        raise ArtifactError(f"{path}: corrupt correlation; run `forecast fit`")
