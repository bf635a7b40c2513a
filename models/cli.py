"""The `forecast` command: fit the model, run scenario files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from models.artifact import DEFAULT_ARTIFACT, save_artifact
from models.catalog import DEFAULT_CATALOG, load_catalog
from models.engine import Engine, forecast_record
from models.errors import ForecastError
from models.predict import Forecast
from models.reference import DEFAULT_REFERENCE, load_reference
from models.scenario import load_scenario
from models.words import icd203

app = typer.Typer(
    help="Calibrated probabilities for how a crisis ends, from graded intelligence reports.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()

ArtifactOption = Annotated[
    Path, typer.Option("--artifact", envvar="ESC_ARTIFACT_PATH", help="Posterior artifact file.")
]
CatalogOption = Annotated[Path, typer.Option("--catalog", help="Indicator catalog file.")]
ReferenceOption = Annotated[Path, typer.Option("--reference", help="Reference cases file.")]


def one_line_errors[**P, R](command: Callable[P, R]) -> Callable[P, R]:
    """Domain errors become one clear line on stderr and exit code 2."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except ForecastError as exc:
            typer.echo(f"error: {exc}", err=True)  # plain: never wrapped, never styled
            raise typer.Exit(2) from None

    return run


@app.command()
@one_line_errors
def fit(
    artifact: ArtifactOption = DEFAULT_ARTIFACT,
    catalog_path: CatalogOption = DEFAULT_CATALOG,
    reference_path: ReferenceOption = DEFAULT_REFERENCE,
    draws: Annotated[int, typer.Option(min=100, help="Draws per chain.")] = 1000,
    tune: Annotated[int, typer.Option(min=100, help="Tuning steps per chain.")] = 1000,
    chains: Annotated[int, typer.Option(min=2, help="Chains (r-hat needs two or more).")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20220719,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Sample the model on the reference cases, check it, and write the artifact.

    Example: forecast fit --artifact var/model/posterior.npz
    """
    from models.fit import SamplerSettings
    from models.fit import fit as fit_model

    catalog = load_catalog(catalog_path)
    reference = load_reference(catalog, reference_path)
    if not quiet:
        typer.echo(f"Fitting on {reference.size} reference cases (compiling first) ...", err=True)
    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed)
    result, _ = fit_model(catalog, reference, settings, progress=not quiet)
    _print_fit(result.meta)
    if not result.meta["diagnostics"]["passed"]:
        typer.echo("error: diagnostics failed; the artifact was not written", err=True)
        raise typer.Exit(1)
    save_artifact(result, artifact)
    console.print(f"Wrote {artifact} ({result.id})")


def _print_fit(meta: dict[str, Any]) -> None:
    diagnostics, loo = meta["diagnostics"], meta["loo"]
    console.print(
        f"Diagnostics: {diagnostics['summary']} -> {'ok' if diagnostics['passed'] else 'FAILED'}"
    )
    table = Table(
        title=f"Leave-one-out on {meta['reference_cases']} reference cases (lower is better)"
    )
    for column in ("forecast", "Brier", "log", "RPS"):
        table.add_column(column)
    rows = (
        (f"model (r = {loo['correlation']})", loo["model"]),
        ("naive product (r = 0)", loo["naive_product"]),
        ("base rate", loo["base_rate"]),
    )
    for name, scores in rows:
        table.add_row(name, *(f"{scores[key]:.3f}" for key in ("brier", "log", "rps")))
    console.print(table)
    console.print(f"Fit took {meta['fit_seconds']:.1f} s; max Pareto k {loo['max_pareto_k']:.2f}")


@app.command()
@one_line_errors
def run(
    files: Annotated[list[Path], typer.Argument(help="Scenario files.")],
    artifact: ArtifactOption = DEFAULT_ARTIFACT,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Forecast each scenario file.

    Example: forecast run scenarios/baseline-2022-07-19.yaml --json
    """
    engine = Engine.load(artifact)
    results = []
    for path in files:
        loaded = load_scenario(path, engine.catalog)
        forecast = engine.run(loaded.scenario)
        results.append(
            {
                "scenario": loaded.name,
                "scenario_sha256": loaded.sha256,
                "artifact_id": engine.artifact.id,
                "as_of": loaded.scenario.as_of.isoformat(),
                **forecast_record(forecast),
            }
        )
        if not as_json:
            _print_forecast(loaded.name, loaded.sha256, engine.artifact.id, forecast)
    if as_json:
        json.dump(results if len(results) > 1 else results[0], sys.stdout, indent=2)
        sys.stdout.write("\n")


def _print_forecast(name: str, sha256: str, artifact_id: str, forecast: Forecast) -> None:
    console.print(
        f"[bold]{name}[/]  scenario sha256 {sha256[:12]}, model {artifact_id}", soft_wrap=True
    )
    table = Table()
    for column in ("outcome", "probability", "90% interval", "ICD-203"):
        table.add_column(column)
    for p in forecast.probabilities:
        table.add_row(p.outcome, f"{p.mean:.1%}", f"{p.lower:.1%} - {p.upper:.1%}", icd203(p.mean))
    console.print(table)
    drivers = ", ".join(
        f"{c.indicator} ({'+' if c.log_odds['direct_invasion'] >= 0 else ''}"
        f"{c.log_odds['direct_invasion']:.2f})"
        for c in forecast.contributions[:3]
    )
    if drivers:
        console.print(f"Top drivers (log-odds of direct_invasion): {drivers}")
    if forecast.surprise:
        console.print("[bold yellow]Surprise:[/] these reports are unlikely under every outcome.")
    console.print(
        f"Pareto k {forecast.pareto_k:.2f}; effective draws {forecast.effective_draws:.0f}"
    )
