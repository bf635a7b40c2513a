"""`forecast diagnose`'s library, on the session's real fit: the ArviZ view of the stored draws
agrees with the fit's own trace and diagnostics, provenance is complete, the plots are real PNGs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models import diagnose
from models.artifact import Artifact, load_artifact
from models.catalog import OUTCOMES, Catalog
from models.errors import ArtifactError
from models.reference import load_reference

from ..files import ROOT

slow = pytest.mark.slow  # these use the session's real fit

HEAVY_MODULES = (
    "arviz",
    "arviz_base",
    "arviz_stats",
    "arviz_plots",
    "xarray",
    "pandas",
    "matplotlib",
)


@pytest.fixture(scope="module")
def artifact(fitted_artifact_path: Path, catalog: Catalog) -> Artifact:
    """The session's fit as `forecast diagnose` gets it: saved, then loaded and checked."""
    return load_artifact(fitted_artifact_path, catalog, load_reference(catalog).fingerprint)


@pytest.fixture(scope="module")
def trace(fitted: tuple[Artifact, Any]) -> Any:
    """The raw DataTree the fit sampled, chains separate: the ground truth to compare with."""
    return fitted[1]


@pytest.fixture(scope="module")
def plots(
    artifact: Artifact, catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    """Every plot of the real draws, thinned to every 4th draw of each chain: all pages are
    still written, in a fraction of the time (the rank plots' multi-chain test and the drawing
    grow with the draws). A directory that does not exist yet: write_plots must create it."""
    chains = artifact.meta["sampler"]["chains"]
    draws = artifact.draws
    thinned = dataclasses.replace(
        artifact,
        draws=dataclasses.replace(
            draws,
            theta=thin(draws.theta, chains, 4),
            phi=thin(draws.phi, chains, 4),
            pi={kind: thin(pi, chains, 4) for kind, pi in draws.pi.items()},
        ),
    )
    return diagnose.write_plots(thinned, catalog, tmp_path_factory.mktemp("diag") / "plots")


def thin(draws: np.ndarray, chains: int, step: int) -> np.ndarray:
    """Every `step`-th draw of each chain, still stacked chain-major."""
    by_chain = draws.reshape(chains, -1, *draws.shape[1:])[:, ::step]
    return by_chain.reshape(-1, *draws.shape[1:])


DIMS = {"theta": ("indicator", "state"), "phi": ("group", "outcome")}


@slow
def test_posterior_has_chains_draws_and_named_coords(artifact: Artifact, catalog: Catalog) -> None:
    posterior = diagnose.posterior(artifact, catalog)["posterior"].dataset
    chains = artifact.meta["sampler"]["chains"]
    draws = artifact.draws.size // chains
    assert posterior["phi"].dims == ("chain", "draw", "group", "outcome")
    assert posterior["theta"].dims == ("chain", "draw", "indicator", "state")
    assert posterior["phi"].shape == (chains, draws, len(catalog.groups), len(OUTCOMES))
    assert posterior["theta"].shape == (chains, draws, len(catalog.ids), 2)
    assert list(posterior["outcome"].values) == list(OUTCOMES)
    assert list(posterior["indicator"].values) == list(catalog.ids)
    assert list(posterior["group"].values) == list(catalog.groups)


@slow
def test_posterior_splits_chains_as_the_fit_stacked_them(
    artifact: Artifact, catalog: Catalog, trace: Any
) -> None:
    posterior = diagnose.posterior(artifact, catalog)["posterior"].dataset
    sampled = trace["posterior"]
    for name, dims in DIMS.items():
        np.testing.assert_array_equal(
            posterior[name].values, sampled[name].transpose("chain", "draw", *dims).values
        )


@slow
def test_summary_rows_are_labelled_with_their_own_element(
    artifact: Artifact, catalog: Catalog
) -> None:
    # Guards the ArviZ pitfall worked around in `diagnose.summary`: with two variables in one
    # Dataset, az.summary can put the values of one element on the row of another.
    table = diagnose.summary(artifact, catalog)
    expected_rows = [f"phi[{g}, {o}]" for g in catalog.groups for o in OUTCOMES] + [
        f"theta[{i}, {s}]" for i in catalog.ids for s in ("off", "on")
    ]
    assert list(table.index) == expected_rows
    draws = artifact.draws
    stacked = np.concatenate(
        [draws.phi.reshape(draws.size, -1), draws.theta.reshape(draws.size, -1)], axis=1
    )
    np.testing.assert_allclose(table["mean"].to_numpy(), stacked.mean(axis=0), rtol=1e-12)
    low, high = np.quantile(stacked, [0.05, 0.95], axis=0)
    np.testing.assert_allclose(table["eti90_lb"].to_numpy(), low, rtol=1e-9)
    np.testing.assert_allclose(table["eti90_ub"].to_numpy(), high, rtol=1e-9)
    for column in ("sd", "ess_bulk", "ess_tail", "r_hat"):
        assert table[column].notna().all(), column


@slow
def test_summary_diagnostics_agree_with_the_fit(
    artifact: Artifact, catalog: Catalog, trace: Any
) -> None:
    import arviz as az

    table = diagnose.summary(artifact, catalog)
    # Element by element, the same numbers as az.rhat / az.ess(method="bulk") on the fit's own
    # trace, which is what models.fit.diagnose stored.
    names = list(DIMS)[::-1]  # phi, then theta: the summary's order
    rhat = az.rhat(trace, var_names=names).to_dataset()
    ess = az.ess(trace, var_names=names, method="bulk").to_dataset()
    for name, diagnostic, column in (("r_hat", rhat, "r_hat"), ("ess", ess, "ess_bulk")):
        expected = np.concatenate([diagnostic[v].transpose(*DIMS[v]).values.ravel() for v in names])
        np.testing.assert_allclose(table[column].to_numpy(), expected, rtol=1e-9, err_msg=name)
    # The stored max r-hat and min bulk ESS also range over the fit's free parameters, which
    # the artifact does not keep: ours can only be as bad or better.
    stored = artifact.meta["diagnostics"]
    assert table["r_hat"].max() <= stored["max_rhat"] + 1e-9
    assert table["ess_bulk"].min() >= stored["min_ess_bulk"] - 1e-6


@slow
def test_provenance_names_the_artifact_and_its_sampler(artifact: Artifact) -> None:
    meta = artifact.meta
    fitted_at = dt.datetime.fromisoformat(meta["fitted_at"])
    record = diagnose.provenance(artifact, now=fitted_at + dt.timedelta(days=2, hours=3))
    assert record["artifact_id"] == artifact.id
    assert record["fitted_at"] == meta["fitted_at"]
    assert record["age"] == "2 d 3 h"
    for key, value in meta["sampler"].items():
        assert record[f"sampler.{key}"] == value
    assert record["diagnostics.max_rhat"] == meta["diagnostics"]["max_rhat"]
    assert record["diagnostics.passed"] is True
    assert record["reference_cases"] == meta["reference_cases"]
    assert record["catalog_sha256"] == meta["catalog_sha256"][:12]
    assert record["reference_sha256"] == meta["reference_sha256"][:12]
    assert record["versions.pymc"] == meta["versions"]["pymc"]
    # Flat and printable: no nested containers.
    assert all(isinstance(value, str | int | float | bool) for value in record.values()), record


@slow
@pytest.mark.parametrize("chains", [3, None, 0])
def test_draws_that_do_not_split_into_the_chains_are_refused(
    artifact: Artifact, catalog: Catalog, chains: int | None
) -> None:
    sampler = {**artifact.meta["sampler"], "chains": chains}
    broken = dataclasses.replace(artifact, meta={**artifact.meta, "sampler": sampler})
    if chains == 3:
        message = f"{artifact.draws.size} draws do not divide into 3 chains"
    else:
        message = "no valid chain count"
    with pytest.raises(ArtifactError, match=message):
        diagnose.posterior(broken, catalog)


@slow
def test_plots_cover_every_group_and_indicator_and_the_reliability_diagram(
    plots: list[Path], catalog: Catalog
) -> None:
    def pages(rows: int) -> int:
        return -(-rows // diagnose.ROWS_PER_PAGE)

    expected = [
        f"{kind}_{name}_{page:02d}.png"
        for kind in ("rank", "trace")
        for name, rows in (("phi", len(catalog.groups)), ("theta", len(catalog.ids)))
        for page in range(1, pages(rows) + 1)
    ] + ["reliability.png"]
    assert [path.name for path in plots] == expected
    assert all(path.parent == plots[0].parent for path in plots)


def test_prior_check_reproduces_the_elicitation(catalog: Catalog) -> None:
    """The prior predictive: the model's prior implies each P(present | outcome) near its
    elicited value, with about the spread of a Beta prior of the elicited sample size."""
    rows = diagnose.prior_check(catalog)
    assert len(rows) == len(catalog.ids) * len(OUTCOMES)
    ratios = np.array([row["prior_sd"] / row["elicited_sd"] for row in rows])
    assert 0.7 < np.median(ratios) < 1.3
    errors = np.array([abs(row["prior_mean"] - row["elicited"]) for row in rows])
    assert np.median(errors) < 0.05 and errors.max() < 0.2


@slow
def test_plots_are_readable_pngs_and_no_figure_is_left_open(plots: list[Path]) -> None:
    import matplotlib.image
    import matplotlib.pyplot as plt
    from PIL import Image

    for path in plots:
        pixels = matplotlib.image.imread(path)  # decodes, or raises
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 300, (path.name, pixels.shape)
        # Not blank: a white canvas has std 0; lines, text and axes put it well above.
        assert pixels[..., :3].std() > 0.05, path.name
        with Image.open(path) as image:
            assert 120 <= round(image.info["dpi"][0]) <= 150, (path.name, image.info)
    assert plt.get_fignums() == []


def test_importing_diagnose_pulls_in_no_plotting_or_arviz() -> None:
    # `models` is imported by the service at start-up; diagnose must not make that heavier.
    script = f"""
import sys
import models.diagnose
print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
