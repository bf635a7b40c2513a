"""Diagnostics of a stored posterior, behind `forecast diagnose`: ArviZ view, summary, provenance,
rank and trace plots.

The artifact keeps the draws with chains stacked chain-major (`models.fit.posterior_draws`); the
chain count in its sampler settings splits them back, so r-hat and ESS here are computed the way
`models.fit.diagnose` computed them at fit time (rank-normalised split r-hat, bulk ESS).

arviz, xarray, pandas and matplotlib are imported inside the functions: `models` is imported by the
web service at start-up, which must not pay for (or depend on) them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.artifact import Artifact
from models.catalog import OUTCOMES, Catalog
from models.errors import ArtifactError

if TYPE_CHECKING:
    import pandas as pd  # type: ignore[import-untyped]  # pandas ships no type information
    import xarray as xr

CI_PROB = 0.9
"""The credible interval of the summary: equal-tailed 90%, as the forecasts report."""
INDICATORS_PER_PAGE = 6
"""theta plots are split into pages of this many indicators (rows) by the outcomes (columns):
17 indicators x 3 outcomes on one figure would be 51 unreadable panels."""
DPI = 130
SHORT_SHA = 12


def posterior(artifact: Artifact, catalog: Catalog) -> xr.DataTree:
    """The draws as an ArviZ DataTree: group `posterior` with pi (chain, draw, outcome) and
    theta (chain, draw, indicator, outcome), coordinates named by outcome and indicator id."""
    from arviz_base import from_dict

    chains = _chains(artifact)
    _check_shapes(artifact, catalog)
    # theta first: a Dataset orders its dims by first appearance, and arviz_base labels the rows
    # of az.summary by each variable's own dim order but stacks values in the Dataset's order
    # (xarray's to_stacked_array). With pi first that is (outcome, indicator), and az.summary of
    # this tree would put theta[a, x] on the row of theta[b, y]. See `summary`.
    return from_dict(
        {
            "posterior": {
                "theta": _split_chains(artifact.theta, chains),
                "pi": _split_chains(artifact.pi, chains),
            }
        },
        coords={"outcome": list(OUTCOMES), "indicator": list(catalog.ids)},
        dims={"pi": ["outcome"], "theta": ["indicator", "outcome"]},
        attrs={"posterior": {"artifact_id": artifact.id}},
    )


def summary(artifact: Artifact, catalog: Catalog) -> pd.DataFrame:
    """One row per parameter element (`pi[no_entry]`, `theta[covert_mobilization, no_entry]`):
    mean, sd, eti90_lb, eti90_ub, ess_bulk, ess_tail, r_hat, mcse_mean, mcse_sd, unrounded."""
    import pandas as pd
    from arviz_stats.summary import summary as arviz_summary

    tree = posterior(artifact, catalog)
    # One variable at a time: a single variable's rows are always labelled right, whatever the
    # order of the tree's dims (see the comment in `posterior`).
    # r_hat and ess_bulk are arviz_stats' defaults, rank-normalised split r-hat and bulk ESS, as
    # az.rhat and az.ess(method="bulk") in models.fit.diagnose: they agree element by element.
    # round_to="none": numbers to compare and format, not strings pre-formatted for display.
    frames = [
        arviz_summary(  # type: ignore[no-untyped-call]  # arviz_stats has no annotations
            tree,
            var_names=[name],
            kind="all",
            ci_prob=CI_PROB,
            ci_kind="eti",
            round_to="none",
        )
        for name in ("pi", "theta")
    ]
    frame: pd.DataFrame = pd.concat(frames)
    return frame


def provenance(artifact: Artifact, now: dt.datetime | None = None) -> dict[str, object]:
    """What the artifact is and where it came from, flat (`sampler.chains`, `versions.pymc`) and
    printable: id, fit time and age, sampler settings, stored diagnostics, data fingerprints."""
    meta = artifact.meta
    fitted_at = str(meta.get("fitted_at", "unknown"))
    flat: dict[str, object] = {
        "artifact_id": artifact.id,
        "fitted_at": fitted_at,
        "age": _age(fitted_at, now or dt.datetime.now(dt.UTC)),
        "correlation": artifact.correlation,
        "draws_total": artifact.pi.shape[0],
        "reference_cases": meta.get("reference_cases", "unknown"),
        "catalog_sha256": str(meta.get("catalog_sha256", "unknown"))[:SHORT_SHA],
        "reference_sha256": str(meta.get("reference_sha256", "unknown"))[:SHORT_SHA],
        "fit_seconds": meta.get("fit_seconds", "unknown"),
    }
    for section in ("sampler", "diagnostics", "versions"):
        flat.update(_prefixed(section, meta.get(section, {})))
    return flat


def write_plots(artifact: Artifact, catalog: Catalog, out: Path) -> list[Path]:
    """Rank and trace plots of pi (all outcomes) and of theta (every indicator, in pages of
    INDICATORS_PER_PAGE), as PNG files in `out`. Returns the files written, in order."""
    import matplotlib

    # Files only, never a window: Agg also works without a display (servers, CI).
    matplotlib.use("Agg")
    tree = posterior(artifact, catalog)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in ("rank", "trace"):
        written.append(_plot(tree, kind, "pi", None, out / f"{kind}_pi.png", artifact.id))
        for page, indicators in enumerate(_pages(catalog.ids), start=1):
            name = f"{kind}_theta_{page:02d}.png"
            written.append(_plot(tree, kind, "theta", indicators, out / name, artifact.id))
    return written


def _chains(artifact: Artifact) -> int:
    chains = artifact.meta.get("sampler", {}).get("chains")
    n_draws = artifact.pi.shape[0]
    if not isinstance(chains, int) or isinstance(chains, bool) or chains < 1:
        raise ArtifactError(
            f"artifact {artifact.id}: no valid chain count in its sampler settings "
            f"({chains!r}); refit with `forecast fit`"
        )
    if n_draws % chains:
        raise ArtifactError(
            f"artifact {artifact.id}: {n_draws} draws do not divide into {chains} chains; "
            "the draws or the sampler settings are corrupt, refit with `forecast fit`"
        )
    return chains


def _check_shapes(artifact: Artifact, catalog: Catalog) -> None:
    """load_artifact checks this already; an Artifact built by hand gets a clear error too."""
    expected = (artifact.pi.shape[0], len(catalog.ids), len(OUTCOMES))
    if artifact.pi.shape[1:] != expected[2:] or artifact.theta.shape != expected:
        raise ArtifactError(
            f"artifact {artifact.id}: draws of shape pi {artifact.pi.shape}, theta "
            f"{artifact.theta.shape} do not fit this catalog ({expected[1]} indicators, "
            f"{expected[2]} outcomes)"
        )


def _split_chains(draws: np.ndarray, chains: int) -> np.ndarray:
    """(chain * draw, ...) stacked chain-major back to (chain, draw, ...)."""
    return draws.reshape(chains, draws.shape[0] // chains, *draws.shape[1:])


def _age(fitted_at: str, now: dt.datetime) -> str:
    try:
        fitted = dt.datetime.fromisoformat(fitted_at)
    except ValueError:
        return "unknown"
    if fitted.tzinfo is None:  # fit writes UTC with an offset; be lenient with a naive time
        fitted = fitted.replace(tzinfo=dt.UTC)
    minutes = int((now - fitted).total_seconds() // 60)
    if minutes < 0:
        return "in the future (clock skew?)"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _prefixed(section: str, values: object) -> dict[str, object]:
    if not isinstance(values, Mapping):
        return {section: values}
    return {f"{section}.{key}": value for key, value in values.items()}


def _pages(ids: tuple[str, ...]) -> Iterator[list[str]]:
    for start in range(0, len(ids), INDICATORS_PER_PAGE):
        yield list(ids[start : start + INDICATORS_PER_PAGE])


def _plot(
    tree: xr.DataTree,
    kind: str,
    variable: str,
    indicators: list[str] | None,
    path: Path,
    artifact_id: str,
) -> Path:
    """One figure: a panel per element of `variable`, outcomes across, indicators down."""
    import arviz_plots

    # Typed loosely on purpose: the two plots' `visuals` take different literal keys.
    plotter: Callable[..., Any] = (
        arviz_plots.plot_rank if kind == "rank" else arviz_plots.plot_trace
    )
    # Thin, translucent trace lines: 4 chains x 1000 draws at the default width are a solid band.
    visuals = {"trace": {"width": 0.5, "alpha": 0.7}} if kind == "trace" else {}
    coords = {} if indicators is None else {"indicator": indicators}
    dims = ["outcome"] if indicators is None else ["indicator", "outcome"]
    rows = 1 if indicators is None else len(indicators)
    title = f"{kind} plot of {variable}, artifact {artifact_id}"
    if indicators is not None:
        title += f": {indicators[0]} to {indicators[-1]}"
    with _closing_figures():
        collection = plotter(
            tree,
            var_names=[variable],
            coords=coords,
            backend="matplotlib",
            visuals=visuals,
            # Panels in catalog order, indicator by indicator; the default follows the order
            # of the tree's dims, which is not the reading order.
            cols=["__variable__", *dims],
            col_wrap=len(OUTCOMES),
            # Room for two-line panel titles, laid out so they clear the tick labels above:
            # arviz's default size and matplotlib's default layout overlap them.
            figure_kwargs={"figsize": (15.0, 1.0 + 2.2 * rows), "layout": "constrained"},
        )
        collection.add_title(title)
        collection.savefig(path, dpi=DPI)
    return path


@contextmanager
def _closing_figures() -> Iterator[None]:
    """Close every figure opened inside, also on error: pyplot keeps figures alive until
    closed, and a long-lived process (the CLI in a loop, tests) would pile them up."""
    import matplotlib.pyplot as plt

    before = set(plt.get_fignums())
    try:
        yield
    finally:
        for number in set(plt.get_fignums()) - before:
            plt.close(number)
