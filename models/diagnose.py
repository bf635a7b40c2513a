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
ROWS_PER_PAGE = 6
"""Plots are split into pages of this many indicators or groups (rows): 20 indicators x 2 states
on one figure would be 40 unreadable panels."""
DPI = 130
SHORT_SHA = 12
PRIOR_CHECK_DRAWS = 20_000
PRIOR_CHECK_SEED = 7

# Each plotted variable: its element dims (rows, columns) and the coordinate of its rows.
_VARIABLES = {"phi": ("group", "outcome"), "theta": ("indicator", "state")}


def posterior(artifact: Artifact, catalog: Catalog) -> xr.DataTree:
    """The draws as an ArviZ DataTree: group `posterior` with theta (chain, draw, indicator,
    state) and phi (chain, draw, group, outcome), coordinates named by id."""
    from arviz_base import from_dict

    chains = _chains(artifact)
    _check_shapes(artifact, catalog)
    # theta first: a Dataset orders its dims by first appearance, and arviz_base labels the rows
    # of az.summary by each variable's own dim order but stacks values in the Dataset's order
    # (xarray's to_stacked_array). See `summary`: one variable at a time is always right.
    return from_dict(
        {
            "posterior": {
                "theta": _split_chains(artifact.draws.theta, chains),
                "phi": _split_chains(artifact.draws.phi, chains),
            }
        },
        coords={
            "outcome": list(OUTCOMES),
            "indicator": list(catalog.ids),
            "group": list(catalog.groups),
            "state": ["off", "on"],
        },
        dims={name: list(dims) for name, dims in _VARIABLES.items()},
        attrs={"posterior": {"artifact_id": artifact.id}},
    )


def summary(artifact: Artifact, catalog: Catalog) -> pd.DataFrame:
    """One row per parameter element (`phi[mobilization, no_entry]`,
    `theta[covert_mobilization, on]`): mean, sd, eti90_lb, eti90_ub, ess_bulk, ess_tail, r_hat,
    mcse_mean, mcse_sd, unrounded."""
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
        for name in _VARIABLES
    ]
    frame: pd.DataFrame = pd.concat(frames)
    return frame


def prior_check(catalog: Catalog) -> list[dict[str, object]]:
    """The prior predictive check of the elicitation: per indicator and outcome, the elicited
    P(present | outcome) with the sd of a Beta prior of its equivalent sample size, beside the
    mean and sd that the model's prior implies (drawn from it, no data)."""
    from models.elicitation import centres, implied_marginals, parameters
    from models.fit import ELICITATION_SCALE_PRIOR_SD

    prior = centres(catalog)
    rng = np.random.default_rng(PRIOR_CHECK_SEED)
    n = PRIOR_CHECK_DRAWS
    eta, a, u = parameters(
        prior,
        np.exp(ELICITATION_SCALE_PRIOR_SD * rng.standard_normal(n)),
        rng.standard_normal((n, *prior.eta.shape)),
        rng.standard_normal((n, prior.a.size)),
        rng.standard_normal((n, prior.u.size)),
    )
    marginal = implied_marginals(eta, a, u, catalog.group_of)  # (n, J, K)
    elicited = catalog.likelihoods
    beta_sd = np.sqrt(elicited * (1 - elicited) / (catalog.sample_sizes[:, None] + 1.0))
    rows: list[dict[str, object]] = []
    for j, indicator in enumerate(catalog.ids):
        for k, outcome in enumerate(OUTCOMES):
            rows.append(
                {
                    "indicator": indicator,
                    "outcome": outcome,
                    "elicited": float(elicited[j, k]),
                    "elicited_sd": float(beta_sd[j, k]),
                    "prior_mean": float(marginal[:, j, k].mean()),
                    "prior_sd": float(marginal[:, j, k].std()),
                }
            )
    return rows


def write_reliability_diagram(artifact: Artifact, out: Path) -> Path:
    """The out-of-sample reliability diagram stored with the artifact (leave one crisis family
    out; what the evidence adds, and as served), one panel per outcome, as a PNG in `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    diagrams = artifact.meta["evaluation"]["reliability_diagram"]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "reliability.png"
    with _closing_figures():
        figure, axes = plt.subplots(1, len(OUTCOMES), figsize=(13, 4.6), layout="constrained")
        for axis, outcome in zip(axes, OUTCOMES, strict=True):
            axis.plot([0, 1], [0, 1], color="0.6", linewidth=1, linestyle="--")
            for label, marker in (("evidence", "o"), ("as_served", "s")):
                points = diagrams[label][outcome]
                axis.plot(
                    [p["forecast"] for p in points],
                    [p["observed"] for p in points],
                    marker=marker,
                    label=label.replace("_", " "),
                )
                for p in points:
                    axis.annotate(str(p["cases"]), (p["forecast"], p["observed"]), fontsize=7)
            axis.set(xlim=(0, 1), ylim=(0, 1), title=outcome, xlabel="mean forecast")
        axes[0].set_ylabel("observed frequency (label-weighted)")
        axes[0].legend(loc="upper left")
        figure.suptitle(
            f"Reliability out of sample (leave one crisis family out), artifact {artifact.id}; "
            "numbers: cases per bin"
        )
        figure.savefig(path, dpi=DPI)
    return path


def provenance(artifact: Artifact, now: dt.datetime | None = None) -> dict[str, object]:
    """What the artifact is and where it came from, flat (`sampler.chains`, `versions.pymc`) and
    printable: id, fit time and age, sampler settings, stored diagnostics, data fingerprints."""
    meta = artifact.meta
    fitted_at = str(meta.get("fitted_at", "unknown"))
    flat: dict[str, object] = {
        "artifact_id": artifact.id,
        "fitted_at": fitted_at,
        "age": _age(fitted_at, now or dt.datetime.now(dt.UTC)),
        "draws_total": artifact.draws.size,
        "reference_cases": meta.get("reference_cases", "unknown"),
        "catalog_sha256": str(meta.get("catalog_sha256", "unknown"))[:SHORT_SHA],
        "reference_sha256": str(meta.get("reference_sha256", "unknown"))[:SHORT_SHA],
        "fit_seconds": meta.get("fit_seconds", "unknown"),
    }
    for section in ("sampler", "diagnostics", "versions"):
        flat.update(_prefixed(section, meta.get(section, {})))
    return flat


def write_plots(artifact: Artifact, catalog: Catalog, out: Path) -> list[Path]:
    """Rank and trace plots of phi (every group) and theta (every indicator), in pages of
    ROWS_PER_PAGE rows, and the reliability diagram, as PNG files in `out`. Returns the files
    written, in order."""
    import matplotlib

    # Files only, never a window: Agg also works without a display (servers, CI).
    matplotlib.use("Agg")
    tree = posterior(artifact, catalog)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    names = {"phi": catalog.group_ids, "theta": catalog.ids}
    for kind in ("rank", "trace"):
        for variable, rows in names.items():
            for page, chosen in enumerate(_pages(rows), start=1):
                path = out / f"{kind}_{variable}_{page:02d}.png"
                written.append(_plot(tree, kind, variable, chosen, path, artifact.id))
    written.append(write_reliability_diagram(artifact, out))
    return written


def _chains(artifact: Artifact) -> int:
    chains = artifact.meta.get("sampler", {}).get("chains")
    n_draws = artifact.draws.size
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
    draws = artifact.draws
    if draws.theta.shape[1:] != (len(catalog.ids), 2) or draws.phi.shape[1:] != (
        len(catalog.groups),
        len(OUTCOMES),
    ):
        raise ArtifactError(
            f"artifact {artifact.id}: draws of shape theta {draws.theta.shape}, phi "
            f"{draws.phi.shape} do not fit this catalog ({len(catalog.ids)} indicators, "
            f"{len(catalog.groups)} groups, {len(OUTCOMES)} outcomes)"
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
    for start in range(0, len(ids), ROWS_PER_PAGE):
        yield list(ids[start : start + ROWS_PER_PAGE])


def _plot(
    tree: xr.DataTree,
    kind: str,
    variable: str,
    rows: list[str],
    path: Path,
    artifact_id: str,
) -> Path:
    """One figure: a panel per element of `variable`, its rows (indicators or groups) down."""
    import arviz_plots

    # Typed loosely on purpose: the two plots' `visuals` take different literal keys.
    plotter: Callable[..., Any] = (
        arviz_plots.plot_rank if kind == "rank" else arviz_plots.plot_trace
    )
    # Thin, translucent trace lines: 4 chains x 1000 draws at the default width are a solid band.
    visuals = {"trace": {"width": 0.5, "alpha": 0.7}} if kind == "trace" else {}
    row_dim, column_dim = _VARIABLES[variable]
    columns = tree["posterior"].sizes[column_dim]
    title = f"{kind} plot of {variable}, artifact {artifact_id}: {rows[0]} to {rows[-1]}"
    with _closing_figures():
        collection = plotter(
            tree,
            var_names=[variable],
            coords={row_dim: rows},
            backend="matplotlib",
            visuals=visuals,
            # Panels in catalog order, row by row; the default follows the order of the
            # tree's dims, which is not the reading order.
            cols=["__variable__", row_dim, column_dim],
            col_wrap=columns,
            # Room for two-line panel titles, laid out so they clear the tick labels above:
            # arviz's default size and matplotlib's default layout overlap them.
            figure_kwargs={
                "figsize": (5.0 * columns, 1.0 + 2.2 * len(rows)),
                "layout": "constrained",
            },
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
