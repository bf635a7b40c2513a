"""The posterior artifact: draws plus provenance, in one .npz file that loads without pymc.

Loading checks everything a server must not get wrong: the file is whole (array checksum), was
written by this format, was fitted on the catalog and reference cases now on disk, and passed its
sampler diagnostics. Any failure is an ArtifactError saying what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.catalog import KINDS, OUTCOMES, Catalog
from models.draws import ModelDraws
from models.errors import ArtifactError
from models.predict import Predictor

ARTIFACT_FORMAT = 2
DEFAULT_ARTIFACT = Path("var/model/posterior.npz")


@dataclass(frozen=True)
class Artifact:
    """Posterior draws of the evidence model and of each kind's population prior
    (`models.predict.ModelDraws`), and provenance `meta` (diagnostics, evaluation)."""

    draws: ModelDraws
    meta: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.meta["artifact_id"])

    def predictor(self, catalog: Catalog) -> Predictor:
        return Predictor(catalog, self.draws)


def _arrays(draws: ModelDraws) -> dict[str, Any]:
    """The draws as named arrays, in a fixed order (for the file and its checksum)."""
    return {
        "theta": draws.theta,
        "phi": draws.phi,
        **{f"pi_{kind}": draws.pi[kind] for kind in sorted(draws.pi)},
    }


def arrays_digest(draws: ModelDraws) -> str:
    digest = hashlib.sha256()
    for array in _arrays(draws).values():
        digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
    return digest.hexdigest()


def make_artifact(draws: ModelDraws, meta: dict[str, Any]) -> Artifact:
    """Seal draws and provenance: add the checksum and an id derived from the content."""
    sealed = {**meta, "format": ARTIFACT_FORMAT, "arrays_sha256": arrays_digest(draws)}
    sealed["artifact_id"] = (
        "m-" + hashlib.sha256(json.dumps(sealed, sort_keys=True).encode()).hexdigest()[:12]
    )
    return Artifact(draws, sealed)


def archived(path: Path, artifact_id: str) -> Path:
    """Where the artifact `artifact_id`, once served from `path`, is kept: beside it, by id."""
    return path.parent / "archive" / f"{artifact_id}.npz"


def keep_archived(artifact: Artifact, path: Path) -> None:
    """Keep the artifact at `path` in the archive (a hard link: no copy), so that forecasts it
    served can be replayed after a new fit replaces it. Does nothing if it is there already."""
    kept = archived(path, artifact.id)
    if kept.exists():
        return
    kept.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(path, kept)
    except OSError:  # a file system without hard links
        shutil.copyfile(path, kept)


def load_archived(path: Path, artifact_id: str, catalog: Catalog) -> Artifact:
    """An archived artifact, to replay a forecast it served: whole, of this format and fitted
    on this catalog (its draws mean nothing under another); ArtifactError saying why not."""
    kept = archived(path, artifact_id)
    artifact = _read(kept)
    if artifact.meta.get("format") != ARTIFACT_FORMAT or artifact.id != artifact_id:
        raise ArtifactError(f"{kept}: not the artifact {artifact_id} of this format")
    if arrays_digest(artifact.draws) != artifact.meta.get("arrays_sha256"):
        raise ArtifactError(f"{kept}: corrupt (checksum mismatch)")
    if artifact.meta.get("catalog_sha256") != catalog.fingerprint:
        raise ArtifactError(f"{artifact_id} was fitted on another catalog")
    _check_draws(kept, artifact.draws, catalog)
    return artifact


def save_artifact(artifact: Artifact, path: Path) -> None:
    """Write atomically (a reader never sees a half-written artifact), and keep it in the
    archive (`keep_archived`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            np.savez(
                handle,
                **_arrays(artifact.draws),
                meta=np.array(json.dumps(artifact.meta, sort_keys=True)),
            )
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    keep_archived(artifact, path)


def load_artifact(path: Path, catalog: Catalog, reference_fingerprint: str) -> Artifact:
    """Load and check an artifact against the current catalog and reference data."""
    artifact = _read(path)
    meta = artifact.meta
    if meta.get("format") != ARTIFACT_FORMAT:
        raise ArtifactError(f"{path}: written by an incompatible version; run `forecast fit`")
    if arrays_digest(artifact.draws) != meta.get("arrays_sha256"):
        raise ArtifactError(f"{path}: corrupt (checksum mismatch); run `forecast fit`")
    stale = _staleness(meta, catalog, reference_fingerprint)
    if stale:
        raise ArtifactError(f"{path}: stale, {stale} since it was fitted; run `forecast fit`")
    _check_draws(path, artifact.draws, catalog)
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
            pi: dict[str, np.ndarray] = {kind: np.array(data[f"pi_{kind}"]) for kind in KINDS}
            draws = ModelDraws(np.array(data["theta"]), np.array(data["phi"]), pi)
            return Artifact(draws, meta)
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


def _check_draws(path: Path, draws: ModelDraws, catalog: Catalog) -> None:
    n_draws, n_outcomes = draws.size, len(OUTCOMES)
    expected = {
        "theta": (draws.theta, (n_draws, len(catalog.ids), 2)),
        "phi": (draws.phi, (n_draws, len(catalog.groups), n_outcomes)),
        **{f"pi_{kind}": (pi, (n_draws, n_outcomes)) for kind, pi in draws.pi.items()},
    }
    for name, (array, shape) in expected.items():
        if array.shape != shape or not np.all((array > 0) & (array < 1)):
            raise ArtifactError(f"{path}: corrupt draws of {name}; run `forecast fit`")
    if not np.all(draws.theta[:, :, 1] > draws.theta[:, :, 0]):
        raise ArtifactError(
            f"{path}: corrupt draws of theta (state on below off); run `forecast fit`"
        )
