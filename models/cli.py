"""The `forecast` command: fit the model, run scenario files."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from models import analysis
from models.agreement import second_coding_beside
from models.artifact import DEFAULT_ARTIFACT, save_artifact
from models.catalog import DEFAULT_CATALOG, OUTCOMES, load_catalog
from models.client import TOKEN_FILE, Service, token_from_file
from models.contract import RELIABLE_K
from models.engine import Engine
from models.errors import ForecastError, InputError
from models.forecast import Forecast
from models.importer import ImportRow, case_facts, post_rows, read_import
from models.reference import DEFAULT_REFERENCE, load_reference
from models.scenario import Grade, load_scenario
from models.track_record import TrackRecord, from_json
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
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
GradeOption = Annotated[
    Grade, typer.Option(help="Admiralty grade of the sensitivity's hypothetical reports.")
]


def one_line_errors[**P, R](command: Callable[P, R]) -> Callable[P, R]:
    """Domain errors, and files that cannot be written, become one clear line on stderr and
    exit code 2."""

    @wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (ForecastError, OSError) as exc:
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
    tune: Annotated[int, typer.Option(min=100, help="Tuning steps per chain.")] = 1500,
    chains: Annotated[int, typer.Option(min=2, help="Chains (r-hat needs two or more).")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 20220719,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Sample the model on the reference cases, check it, score it out of sample (leaving one
    crisis family out at a time, every model in one table), and write the artifact.

    Example: forecast fit --artifact var/model/posterior.npz
    """
    from models.fit import SamplerSettings
    from models.fit import fit as fit_model

    catalog = load_catalog(catalog_path)
    reference = load_reference(catalog, reference_path)
    second = second_coding_beside(catalog, reference_path)
    say = None if quiet else (lambda message: typer.echo(f"{message} ...", err=True))
    if say:
        say(f"Fitting on {reference.size} reference cases")
    settings = SamplerSettings(draws=draws, tune=tune, chains=chains, seed=seed)
    result, _ = fit_model(catalog, reference, settings, not quiet, say, second)
    if as_json:
        _print_json({"artifact": str(artifact), **result.meta})
    else:
        print_evaluation(result.meta)
    if not result.meta["diagnostics"]["passed"]:
        typer.echo("error: diagnostics failed; the artifact was not written", err=True)
        raise typer.Exit(1)
    save_artifact(result, artifact)
    if not as_json:
        console.print(f"Wrote {artifact} ({result.id})")


_ROW_NAMES = {
    "reference_frequency": "reference frequency (bar)",
    "population_base_rate": "population base rate",
    "naive_product": "naive product",
    "design_effect": "design effect (previous)",
    "latent_groups": "latent groups (served)",
    "file_frequency": "file's frequency (bar)",
    "model_with_file_prior": "model, prior = file's",
    "model": "model (served)",
}


def print_evaluation(meta: dict[str, Any]) -> None:
    """The fit's diagnostics and its out-of-sample tables."""
    diagnostics, evaluation = meta["diagnostics"], meta["evaluation"]
    console.print(
        f"Diagnostics: {diagnostics['summary']} -> {'ok' if diagnostics['passed'] else 'FAILED'}"
    )
    folds = f"{evaluation['cases']} cases, {evaluation['families']} crisis families"
    print_score_table(
        evaluation["evidence"],
        f"What the evidence adds, leave one crisis family out ({folds}); prior fixed to the "
        "training families' outcome frequencies",
    )
    print_score_table(evaluation["as_served"], "As served: each kind's population prior")
    refits = ", ".join(evaluation["refits"]) or "none"
    console.print(
        f"Coding reliability {evaluation['coding_reliability']:.3f}; refitted (Pareto k > "
        f"{RELIABLE_K}): {refits}; fit took {meta['fit_seconds']:.1f} s"
    )


def print_score_table(table: dict[str, Any], title: str) -> None:
    """Mean scores (clustered standard errors), the paired difference from the bar with its
    standard error, skill against the bar with its 95% interval, and AUC per outcome with its
    95% interval."""
    view = Table(
        title=title,
        title_justify="left",
        caption="lower is better; diff = model - bar, paired; skill = 1 - model / bar",
    )
    view.add_column("forecast")
    columns = ("Brier", "log", "RPS", "Brier diff", "log diff", "Brier skill")
    for column in (*columns, *(f"AUC {_SHORT[o]}" for o in OUTCOMES)):
        view.add_column(column, justify="right")
    # The artifact's JSON sorts keys: put the rows back in the order of the comparison.
    order = list(_ROW_NAMES)
    for name, row in sorted(table.items(), key=lambda item: order.index(item[0])):
        skill = row.get("brier_skill")
        aucs = row["auc"]
        view.add_row(
            _ROW_NAMES.get(name, name),
            *(_mean_se(row[s]) for s in ("brier", "log", "rps")),
            *(_mean_se(row[d], signed=True) if d in row else "" for d in _DIFFERENCES),
            "" if skill is None else _bracketed(skill, signed=True),
            *(_bracketed(aucs[o]) if aucs and aucs[o] else "" for o in OUTCOMES),
        )
    console.print(view)


_DIFFERENCES = ("brier_difference", "log_difference")


def _mean_se(value: dict[str, float], signed: bool = False) -> str:
    return f"{value['mean']:{'+.3f' if signed else '.3f'}}\u00b1{value['se']:.3f}"


def _bracketed(interval: dict[str, float], signed: bool = False) -> str:
    """`value [lower, upper]`: skill in percent (signed), AUC as a fraction."""
    if signed:
        return f"{interval['value']:+.0%} [{interval['lower']:+.0%},{interval['upper']:+.0%}]"
    return f"{interval['value']:.2f} [{interval['lower']:.2f},{interval['upper']:.2f}]"


@app.command()
@one_line_errors
def backtest(
    file: Annotated[Path, typer.Argument(help="Coded episodes, in the reference-case format.")],
    artifact: ArtifactOption = DEFAULT_ARTIFACT,
    as_json: JsonOption = False,
) -> None:
    """Score the served model on a file of coded historical episodes: per episode and in total,
    against the base rate, with bootstrap intervals; and what the evidence adds, with the prior
    fixed to the file's own outcome frequencies.

    Example: forecast backtest my-episodes.yaml
    """
    from models.backtest import backtest as run_backtest

    engine = Engine.load(artifact)
    result = run_backtest(engine, file)
    if as_json:
        _print_json(
            {
                "file": str(file),
                "artifact_id": engine.artifact.id,
                "coding_reliability": result.reliability,
                "uncoded_indicators": result.uncoded,
                "episodes": result.episodes(),
                "as_served": result.as_served,
                "evidence": result.evidence,
            }
        )
        return
    episodes = Table(title=f"{file}: {result.reference.size} episodes", title_justify="left")
    episodes.add_column("episode", overflow="fold")
    for column in ("outcome", *(_SHORT[o] for o in OUTCOMES), "Brier", "base rate"):
        episodes.add_column(column, overflow="fold")
    for row in result.episodes():
        episodes.add_row(
            row["id"],
            f"{row['outcome']} ({row['label_confidence']:.2f})",
            *(f"{p:.1%}" for p in row["forecast"]),
            f"{row['brier']:.3f}",
            f"{row['brier_base_rate']:.3f}",
        )
    console.print(episodes)
    print_score_table(result.as_served, "As served, against each kind's population base rate")
    print_score_table(
        result.evidence, "What the evidence adds: prior fixed to the file's frequencies"
    )
    console.print(
        f"model {engine.artifact.id}; coded indicators read at reliability "
        f"{result.reliability:.3f}; {result.uncoded} applicable indicators not coded (unknown)"
    )


@app.command()
@one_line_errors
def agreement(
    catalog_path: CatalogOption = DEFAULT_CATALOG,
    reference_path: ReferenceOption = DEFAULT_REFERENCE,
    as_json: JsonOption = False,
) -> None:
    """Inter-coder agreement: Cohen's kappa per indicator between the reference coding and the
    independent second coding, and the coding reliability it implies.

    Example: forecast agreement
    """
    from models.agreement import agreement as measure

    catalog = load_catalog(catalog_path)
    reference = load_reference(catalog, reference_path)
    result = measure(catalog, reference, second_coding_beside(catalog, reference_path))
    if as_json:
        _print_json(dataclasses.asdict(result))
        return
    view = Table(
        title=f"Agreement on {result.episodes} double-coded episodes", title_justify="left"
    )
    for column in ("indicator", "episodes", "kappa (3 codes)", "both coded known", "agree"):
        view.add_column(column)
    for row in result.per_indicator:
        kappa = "n/a" if row.kappa is None else f"{row.kappa:.2f}"
        view.add_row(
            row.indicator, str(row.pairs), kappa, str(row.both_known), str(row.agree_known)
        )
    console.print(view)
    console.print(
        f"Outcome labels agree on {result.outcome_agreement} of {result.episodes}; known codes "
        f"agree on {result.agree_known} of {result.both_known}: coding reliability "
        f"{result.reliability:.3f}"
    )


@app.command()
@one_line_errors
def run(
    files: Annotated[list[Path], typer.Argument(help="Scenario files.")],
    artifact: ArtifactOption = DEFAULT_ARTIFACT,
    as_json: JsonOption = False,
) -> None:
    """Forecast scenario files: one table of outcome, probability, 90% interval, ICD-203 words
    and the reports that drive each outcome most.

    Examples: forecast run scenarios/*.yaml;
    forecast run scenarios/baseline-2022-07-19.yaml --json
    """
    engine = Engine.load(artifact)
    runs = [analysis.run(engine, load_scenario(path, engine.catalog)) for path in files]
    if as_json:
        records = [_record(engine, one) for one in runs]
        _print_json(records if len(records) > 1 else records[0])
        return
    table = Table(title=f"Forecasts (model {engine.artifact.id})", title_justify="left")
    table.add_column("outcome", no_wrap=True)
    table.add_column("probability", justify="right")
    table.add_column("90% interval", no_wrap=True)
    table.add_column("ICD-203")
    table.add_column("top drivers (log-odds)")
    for one in runs:
        table.add_row(f"[bold]{one.name}[/]", "", f"as of {one.scenario.as_of}")
        for p in one.forecast.probabilities:
            table.add_row(
                f"  {p.outcome}",
                f"{p.mean:.1%}",
                f"{p.lower:.1%} - {p.upper:.1%}",
                icd203(p.mean),
                _drivers(one.forecast, p.outcome),
                end_section=p.outcome == OUTCOMES[-1],
            )
    console.print(table)
    _print_provenance(engine, runs)


def _record(engine: Engine, one: analysis.Run) -> dict[str, Any]:
    """A scenario's forecast as the what-if endpoint serves it, with the scenario's name."""
    record = engine.record(one.forecast, one.scenario.base_case, one.provenance)
    return {"scenario": one.name, **record.model_dump(mode="json")}


def _drivers(forecast: Forecast, outcome: str, count: int = 1) -> str:
    """The indicators whose reports moved this outcome's log-odds most, signed."""
    ranked = sorted(forecast.contributions, key=lambda c: -abs(c.log_odds[outcome]))
    return ", ".join(f"{c.indicator} {c.log_odds[outcome]:+.2f}" for c in ranked[:count])


def _print_provenance(engine: Engine, runs: list[analysis.Run]) -> None:
    """What a result needs to be reproduced: the model and each scenario's content hash."""
    for one in runs:
        warnings = []
        if one.forecast.surprise:
            warnings.append("surprise: these reports are unlikely under every outcome")
        if one.forecast.pareto_k > RELIABLE_K:
            warnings.append(f"Pareto k {one.forecast.pareto_k:.2f}: unlike the reference cases")
        flags = f"  [yellow]{'; '.join(warnings)}[/]" if warnings else ""
        console.print(
            f"{one.name}: sha256 {one.loaded.sha256[:16]}, as of {one.scenario.as_of}{flags}"
        )
    console.print(f"model {engine.artifact.id}; drivers: change in log-odds from the reports")


def _print_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _print_base_rates(forecast: Forecast) -> None:
    """How the forecast moves across the plausible range of each outcome's base rate."""
    prior = forecast.prior
    view = Table(
        title=(
            f"Base rates: the forecast if one outcome's base rate were at an end of its "
            f"plausible range ({prior.kind}, 5%-95% of the population prior; now "
            + ", ".join(f"{o} {p:.1%}" for o, p in prior.probabilities.items())
            + f", from the {prior.source})"
        ),
        title_justify="left",
    )
    for column in ("base rate of", "set to", *OUTCOMES):
        view.add_column(column)
    for shift in forecast.base_rates:
        view.add_row(
            shift.outcome,
            f"{shift.base_rate:.1%}",
            *(f"{shift.probabilities[o]:.1%}" for o in OUTCOMES),
        )
    console.print(view)


def _points(value: float) -> str:
    """A change of probability in percentage points."""
    return f"{value * 100:+.1f} pp"


_SHORT = {"no_entry": "NE", "false_flag": "FF", "direct_invasion": "DI"}


@app.command()
@one_line_errors
def compare(
    a: Annotated[Path, typer.Argument(help="The scenario to start from.")],
    b: Annotated[Path, typer.Argument(help="The scenario to compare with it.")],
    artifact: ArtifactOption = DEFAULT_ARTIFACT,
    as_json: JsonOption = False,
) -> None:
    """Two scenarios side by side, and what takes A to B, step by step: B's overrides, each
    report in A only taken out, the change of date (reports age), each report in B only put
    in; each step's change given the steps before it, so the steps sum to B - A exactly.

    Example: forecast compare scenarios/baseline-2022-07-19.yaml
    scenarios/mobilization-confirmed.yaml
    """
    engine = Engine.load(artifact)
    result = analysis.compare(
        engine, load_scenario(a, engine.catalog), load_scenario(b, engine.catalog)
    )
    if as_json:
        _print_json(
            {
                "a": _record(engine, result.a),
                "b": _record(engine, result.b),
                "change": result.total,
                "differences": [
                    {"kind": d.kind, "what": d.label, "effect": d.effect}
                    for d in result.differences
                ],
            }
        )
        return
    side = Table(title=f"A: {result.a.name}  vs  B: {result.b.name}", title_justify="left")
    for column in ("outcome", "A", "B", "B - A"):
        side.add_column(column)
    for outcome in OUTCOMES:
        before, after = result.a.forecast.mean(outcome), result.b.forecast.mean(outcome)
        side.add_row(outcome, f"{before:.1%}", f"{after:.1%}", _points(after - before))
    console.print(side)
    why = Table(title="What takes A to B (the steps sum to B - A)", title_justify="left")
    for column in ("change", *OUTCOMES):
        why.add_column(column)
    for difference in result.differences:
        label = {"added": "+ ", "removed": "- "}.get(difference.kind, "") + difference.label
        why.add_row(escape(label), *(_points(difference.effect[o]) for o in OUTCOMES))
    if not result.differences:
        why.add_row("(none: same reports, date and overrides)", *("" for _ in OUTCOMES))
    console.print(why)
    _print_provenance(engine, [result.a, result.b])


UrlOption = Annotated[str, typer.Option("--url", envvar="ESC_URL", help="The service.")]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", envvar="ESC_WRITE_TOKEN", help=f"A key (default: {TOKEN_FILE})."),
]
DEFAULT_URL = "http://127.0.0.1:8000"


@app.command("import")
@one_line_errors
def import_reports(
    file: Annotated[
        Path, typer.Argument(help="Reports as CSV (a header row naming the columns) or YAML.")
    ],
    case: Annotated[str, typer.Option("--case", help="The case to add them to.")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row against the case; post nothing.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Post historical reporting to a case through the API: each row a report with
    observed_on, known_at (when the analyst had it), source and grade. Every row is checked
    first, against the case and the service's indicators; a bad row is reported by its line
    and nothing is posted. Rows go in batches of 500, each stored whole; importing the file
    again stores nothing twice.

    Example: forecast import reporting.csv --case belarus-ukraine-2022 --dry-run
    """
    with Service(url, token or token_from_file()) as service:
        rows = read_import(file, case_facts(service, case))
        _print_import_summary(file, case, rows)
        if dry_run:
            console.print("dry run: every row is fine; nothing was posted")
            return
        with Progress(console=console, disable=quiet, transient=True) as progress:
            task = progress.add_task(f"posting to {case}", total=len(rows))
            forecast = post_rows(
                service, case, rows, lambda done: progress.update(task, completed=done)
            )
    shown = ", ".join(f"{p['outcome']} {p['mean']:.1%}" for p in forecast["probabilities"])
    console.print(
        f"posted {len(rows)} reports; {case} as of {forecast['as_of']}: {shown}", soft_wrap=True
    )


def _print_import_summary(file: Path, case: str, rows: list[ImportRow]) -> None:
    observed = sorted(row.report.observed_on for row in rows)
    known = sorted(row.report.known_at for row in rows if row.report.known_at is not None)
    when = f", known {known[0]:%Y-%m-%d} to {known[-1]:%Y-%m-%d}" if known else ""
    unknown = len(rows) - len(known)
    defaulted = f"; {unknown} without known_at (known when posted)" if unknown else ""
    console.print(
        f"{file}: {len(rows)} reports for {case}, observed {observed[0]} to {observed[-1]}"
        f"{when}{defaulted}",
        soft_wrap=True,
    )


keys = typer.Typer(help="Named API keys: make, list and revoke them (an admin key).")
app.add_typer(keys, name="keys")


@keys.command("create")
@one_line_errors
def create_key(
    name: Annotated[str, typer.Argument(help="Whose key: a person, a team, a feed.")],
    role: Annotated[
        Literal["reader", "analyst", "admin"],
        typer.Option("--role", help="reader reads; analyst enters reports; admin manages keys."),
    ],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Make a named key and print its secret, this once: the service keeps only its hash.

    Example: forecast keys create alice --role analyst
    """
    with Service(url, token or token_from_file()) as service:
        made = service.expect(201, "POST", "/v1/keys", {"name": name, "role": role})
    console.print(f"{made['name']} ({made['role']}): {made['secret']}", soft_wrap=True)
    console.print("Shown once: keep it now. Send it as: Authorization: Bearer <key>")


@keys.command("list")
@one_line_errors
def list_keys(url: UrlOption = DEFAULT_URL, token: TokenOption = None) -> None:
    """Every key, its role, who made it and when, and whether it is revoked (no secrets)."""
    with Service(url, token or token_from_file()) as service:
        listed = service.read("/v1/keys")
    table = Table(title="Keys", title_justify="left")
    for column in ("name", "role", "made", "by", "revoked"):
        table.add_column(column)
    for key in listed:
        made, revoked = key["created_at"][:16], (key["revoked_at"] or "")[:16]
        table.add_row(key["name"], key["role"], made, key["created_by"] or "", revoked)
    console.print(table)


@keys.command("revoke")
@one_line_errors
def revoke_key(
    name: Annotated[str, typer.Argument(help="The key to revoke.")],
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
) -> None:
    """Revoke a key: refused from its next request on, by every worker; it stays listed."""
    with Service(url, token or token_from_file()) as service:
        revoked = service.expect(200, "DELETE", f"/v1/keys/{name}")
    console.print(f"{revoked['name']} revoked at {revoked['revoked_at']}", soft_wrap=True)


@app.command()
@one_line_errors
def sensitivity(
    file: Annotated[Path, typer.Argument(help="Scenario file.")],
    grade: GradeOption = "B",
    artifact: ArtifactOption = DEFAULT_ARTIFACT,
    as_json: JsonOption = False,
) -> None:
    """How the forecast moves if each indicator were reported present or absent: what to
    collect next (unreported indicators ranked by value of information), and how it moves
    under each of the scenario's overrides alone.

    Example: forecast sensitivity scenarios/no-evidence.yaml --grade A
    """
    engine = Engine.load(artifact)
    result = analysis.sensitivity(engine, load_scenario(file, engine.catalog), grade)
    if as_json:
        _print_json(
            {
                **_record(engine, result.run),
                "grade": grade,
                "if_reported": [dataclasses.asdict(row) for row in result.if_reported],
                "overrides": [dataclasses.asdict(shift) for shift in result.overrides],
            }
        )
        return
    now = analysis.probabilities(result.run.forecast)
    table = Table(
        title=f"{result.run.name}: one more report (grade {grade}), change from now",
        title_justify="left",
    )
    table.add_column("indicator", no_wrap=True)
    table.add_column("value (bits)", justify="right")
    table.add_column("if present (pp)", no_wrap=True)
    table.add_column("if absent (pp)", no_wrap=True)
    short = " / ".join(f"{_SHORT[o]} {o}" for o in OUTCOMES)
    table.caption = f"change of {short}, in percentage points"
    for row in result.if_reported:
        value = "reported" if row.bits is None else f"{row.bits:.3f}"
        present = " / ".join(f"{(row.if_present[o] - now[o]) * 100:+.1f}" for o in OUTCOMES)
        absent = " / ".join(f"{(row.if_absent[o] - now[o]) * 100:+.1f}" for o in OUTCOMES)
        table.add_row(row.indicator, value, present, absent)
    console.print(table)
    _print_base_rates(result.run.forecast)
    if result.overrides:
        overrides = Table(title="Each override alone, change from none", title_justify="left")
        for column in ("override", *OUTCOMES):
            overrides.add_column(column)
        for shift in result.overrides:
            overrides.add_row(shift.label, *(_points(shift.effect[o]) for o in OUTCOMES))
        console.print(overrides)
    _print_provenance(engine, [result.run])


def read_track_record(source: str, token: str | None) -> tuple[str, TrackRecord]:
    """The track record from a running service (`source` its URL) or a saved answer."""
    if source.startswith(("http://", "https://")):
        with Service(source, token or token_from_file()) as service:
            return from_json(service.read("/v1/track-record"))
    try:
        return from_json(json.loads(Path(source).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise InputError("--track-record", f"cannot read {source}: {exc}") from None


@app.command()
@one_line_errors
def report(
    files: Annotated[list[Path] | None, typer.Argument(help="Scenario files.")] = None,
    out: Annotated[Path, typer.Option("--out", help="Directory to write the report into.")] = Path(
        "var/report"
    ),
    fmt: Annotated[
        Literal["html", "md"], typer.Option("--format", help="HTML (one file) or Markdown.")
    ] = "html",
    track_record: Annotated[
        str | None,
        typer.Option(
            "--track-record",
            help="Add the service's track record: its URL (read with --token) or a file "
            "holding what GET /v1/track-record answered.",
        ),
    ] = None,
    token: TokenOption = None,
    grade: GradeOption = "B",
    artifact: ArtifactOption = DEFAULT_ARTIFACT,
    as_json: JsonOption = False,
) -> None:
    """A report on scenario files, readable offline: probabilities with intervals, a tornado
    chart of each scenario's drivers, its sensitivity and its evidence, with PNG plots; and,
    with --track-record, how good the service's forecasts of resolved cases were.

    Example: forecast report scenarios/*.yaml --out var/report --track-record http://127.0.0.1:8000
    """
    from models.report import step_count, write_report  # matplotlib: only for reports

    if not files and track_record is None:
        raise InputError("files", "give scenario files, --track-record, or both")
    track = None if track_record is None else read_track_record(track_record, token)
    engine = Engine.load(artifact)
    loaded = [load_scenario(path, engine.catalog) for path in files or []]
    out.mkdir(parents=True, exist_ok=True)  # before the long work: a bad --out fails at once
    progress_console = Console(stderr=True)
    with Progress(
        transient=True, console=progress_console, disable=not progress_console.is_terminal
    ) as progress:
        task = progress.add_task("analysing", total=len(loaded) + step_count(len(loaded)))
        sensitivities = []
        for scenario in loaded:
            progress.update(task, description=f"analysing {scenario.name}")
            sensitivities.append(analysis.sensitivity(engine, scenario, grade))
            progress.advance(task)

        def step(description: str) -> None:
            progress.update(task, description=description, advance=1)

        written = write_report(
            sensitivities, engine.catalog, engine.artifact.id, out, fmt, step, track
        )
    if as_json:
        _print_json(
            {
                "report": str(written),
                "plots": sorted(str(path) for path in out.glob("*.png")),
                "artifact_id": engine.artifact.id,
                "scenarios": {one.name: one.sha256 for one in loaded},
            }
        )
        return
    console.print(f"Wrote {written} ({len(loaded)} scenarios, model {engine.artifact.id})")


@app.command()
@one_line_errors
def diagnose(
    out: Annotated[
        Path | None, typer.Option("--out", help="Also write rank and trace plots (PNG) here.")
    ] = None,
    rows: Annotated[int, typer.Option(min=1, help="Parameters shown, worst r-hat first.")] = 12,
    artifact: ArtifactOption = DEFAULT_ARTIFACT,
    as_json: JsonOption = False,
) -> None:
    """The artifact's provenance and its sampler's health: the ArviZ summary of every parameter
    (r-hat, effective sample sizes, 90% interval) and, with --out, rank and trace plots.

    Example: forecast diagnose --out var/diagnostics
    """
    from models import diagnose as diagnostics  # arviz and matplotlib: only here

    engine = Engine.load(artifact)
    table = diagnostics.summary(engine.artifact, engine.catalog)
    plots: list[Path] = []
    if out is not None:
        with console.status("plotting rank and trace plots (about 15 s) ..."):
            plots = diagnostics.write_plots(engine.artifact, engine.catalog, out)
    facts = diagnostics.provenance(engine.artifact)
    prior = diagnostics.prior_check(engine.catalog)
    if as_json:
        records = table.reset_index(names="parameter").to_dict(orient="records")
        _print_json(
            {
                **facts,
                "summary": records,
                "prior_check": prior,
                "plots": [str(path) for path in plots],
            }
        )
        return
    about = Table(title=f"Model {engine.artifact.id}", title_justify="left", show_header=False)
    for key, value in facts.items():
        about.add_row(key, str(value))
    console.print(about)
    worst = table.sort_values("r_hat", ascending=False).head(rows)
    summary = Table(
        title=f"Worst {len(worst)} of {len(table)} parameters by r-hat", title_justify="left"
    )
    summary.add_column("parameter", no_wrap=True)
    for column in ("mean", "90% interval", "r-hat", "ESS bulk", "ESS tail"):
        summary.add_column(column)
    for name, row in worst.iterrows():
        summary.add_row(
            escape(str(name)),  # `theta[a, b]` is not markup
            f"{row['mean']:.3f}",
            f"{row['eti90_lb']:.3f} - {row['eti90_ub']:.3f}",
            f"{row['r_hat']:.4f}",
            f"{row['ess_bulk']:.0f}",
            f"{row['ess_tail']:.0f}",
        )
    console.print(summary)
    _print_prior_check(prior)
    for path in plots:
        console.print(f"Wrote {path}")


def _print_prior_check(rows: list[dict[str, Any]], shown: int = 8) -> None:
    """How the model's prior reproduces the elicitation: the marginals furthest from it."""
    ratios = np.array([row["prior_sd"] / row["elicited_sd"] for row in rows])
    view = Table(
        title=(
            "Prior predictive check: P(present | outcome) as elicited and as the model's prior "
            f"implies (spread / elicited spread: median {np.median(ratios):.2f}, range "
            f"{ratios.min():.2f}-{ratios.max():.2f}); the largest departures"
        ),
        title_justify="left",
    )
    for column in ("indicator", "outcome", "elicited ± sd", "prior ± sd"):
        view.add_column(column)
    ranked = sorted(rows, key=lambda row: -abs(row["prior_mean"] - row["elicited"]))
    for row in ranked[:shown]:
        view.add_row(
            row["indicator"],
            row["outcome"],
            f"{row['elicited']:.2f} ± {row['elicited_sd']:.2f}",
            f"{row['prior_mean']:.2f} ± {row['prior_sd']:.2f}",
        )
    console.print(view)
