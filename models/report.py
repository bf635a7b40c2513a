"""The analysts' report behind `forecast report`: each scenario's forecast, why, and what would
move it, as PNG plots and one document, a self-contained HTML page or Markdown beside the plots.

The document is built once as a list of neutral blocks (headings, text, tables, images) and then
rendered to either format, so that the two say the same thing. matplotlib is imported only when
a plot is drawn: importing this module stays as cheap as the rest of the serving path.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import re
import textwrap
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from models.analysis import IfReported, OverrideShift, Run, Sensitivity, probabilities
from models.catalog import OUTCOMES, Catalog
from models.contract import RELIABLE_K
from models.forecast import OutcomeProbability
from models.scenario import ReportEntry
from models.track_record import Estimate, TrackRecord
from models.words import icd203

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

OUTCOME_COLOURS: dict[str, str] = {
    "no_entry": "#0072B2",  # Okabe-Ito blue
    "false_flag": "#E69F00",  # Okabe-Ito orange
    "direct_invasion": "#D55E00",  # Okabe-Ito vermillion
}
"""One colour per outcome in every plot, from a palette that stays distinct under colour-vision
deficiencies (and far apart in lightness, so it survives greyscale printing too)."""

_MARKERS = {"no_entry": "o", "false_flag": "s", "direct_invasion": "^"}
# Outcomes in a group of bars or points, top to bottom in escalation order.
_OFFSETS = {"no_entry": 0.27, "false_flag": 0.0, "direct_invasion": -0.27}
_BAR_HEIGHT = 0.26

DPI = 150
FIGURE_WIDTH = 8.0
"""Inches: the width of a report page's text column at a readable scale."""
ROW_INCHES = 0.4
"""Height per scenario or indicator (a group of three bars or points, a label of up to two
lines): figures grow with their rows rather than squeezing them."""
CHROME_INCHES = 1.6
"""Title, legend and axis label."""
MIN_ROWS = 3
SENSITIVITY_ROWS = 10
"""Indicators in a sensitivity plot (its table lists all of them)."""
_LABEL_CHARACTERS = 30
_PROBABILITIES_PNG = "probabilities.png"
_STYLE: dict[RcKeyType, object] = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.axisbelow": True,
    "axes.grid": True,
    "axes.grid.axis": "x",
    "grid.color": "#d0d0d0",
    "grid.linewidth": 0.6,
}
_CSS = """
body { font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: #1b1b1b; background: #fff; max-width: 62rem; margin: 2rem auto; padding: 0 1rem; }
h1, h2, h3 { line-height: 1.25; }
h2 { border-top: 1px solid #c8c8c8; padding-top: 1rem; margin-top: 2.5rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem;
  font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #c8c8c8; padding: 0.3rem 0.6rem; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
thead th { background: #e8edf2; }
tbody tr:nth-child(even) { background: #f6f8fa; }
figure { margin: 1rem 0; }
img { max-width: 100%; height: auto; }
figcaption { font-size: 0.85rem; color: #555; }
.warning { background: #fff4e5; border-left: 4px solid #b35c00; color: #3d2000;
  padding: 0.5rem 0.8rem; }
"""


def step_count(n_runs: int) -> int:
    """How many times `write_report` calls `progress` for this many scenarios: the overview
    plot, two plots per scenario, and the document."""
    return 2 + 2 * n_runs


def figure_size(rows: int) -> tuple[float, float]:
    """Inches of a plot with this many rows (scenarios or indicators)."""
    return FIGURE_WIDTH, CHROME_INCHES + ROW_INCHES * max(rows, MIN_ROWS)


def write_report(
    sensitivities: Sequence[Sensitivity],
    catalog: Catalog,
    artifact_id: str,
    out: Path,
    fmt: Literal["html", "md"] = "html",
    progress: Callable[[str], None] = lambda step: None,
    track: tuple[str, TrackRecord] | None = None,
) -> Path:
    """Write the plots and the report on these scenarios (each sensitivity holds its scenario's
    run), and on the service's track record if given (the model that scored it, the record),
    into `out`, created if missing; return the report file (index.html or report.md)."""
    if not sensitivities and track is None:
        raise ValueError("no scenarios and no track record to report on")
    sections = _sections(sensitivities)
    out.mkdir(parents=True, exist_ok=True)
    if sections:
        progress("plotting probabilities")
        plot_probabilities([section.run for section in sections], out / _PROBABILITIES_PNG)
    for section in sections:
        progress(f"plotting contributions: {section.run.name}")
        plot_contributions(section.run, catalog, out / section.contributions_png)
        progress(f"plotting sensitivity: {section.run.name}")
        plot_sensitivity(section.sensitivity, catalog, out / section.sensitivity_png)
    if track is not None and track[1].calibration:
        progress("plotting the reliability diagram")
        plot_reliability(track[1], out / _RELIABILITY_PNG)
    progress("writing the report")
    blocks = _document(sections, catalog, artifact_id)
    if track is not None:
        blocks += track_record_blocks(*track)
    if fmt == "html":
        path, text = out / "index.html", _html(blocks, out)
    else:
        path, text = out / "report.md", _markdown(blocks)
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class _Section:
    """One scenario's part of the report, with the names of its plot files."""

    run: Run
    sensitivity: Sensitivity
    contributions_png: str
    sensitivity_png: str


def _sections(sensitivities: Sequence[Sensitivity]) -> list[_Section]:
    stems = safe_stems([sensitivity.run.name for sensitivity in sensitivities])
    return [
        _Section(s.run, s, f"contributions-{stem}.png", f"sensitivity-{stem}.png")
        for s, stem in zip(sensitivities, stems, strict=True)
    ]


def safe_stems(names: Sequence[str]) -> list[str]:
    """File-name stems of [a-z0-9._-] for these names, distinct even when the names are not
    (the same scenario file name in two directories)."""
    stems: list[str] = []
    for name in names:
        base = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip(".-") or "scenario"
        stem, copy = base, 1
        while stem in stems:
            copy += 1
            stem = f"{base}-{copy}"
        stems.append(stem)
    return stems


# Plots.


@contextmanager
def _figure(path: Path, rows: int) -> Iterator[Figure]:
    """A figure to draw on, saved to `path` as PNG when the block ends.

    matplotlib's object-oriented Figure, not pyplot: no global figure registry (nothing to
    close, nothing to leak) and no GUI backend to switch off."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=figure_size(rows), dpi=DPI, layout="constrained")
        yield figure
        figure.savefig(path, dpi=DPI, format="png")


def plot_probabilities(runs: Sequence[Run], path: Path) -> None:
    """Each scenario's outcome probabilities with 90% intervals, scenarios top to bottom."""
    from matplotlib.ticker import PercentFormatter

    with _figure(path, len(runs)) as figure:
        axes = figure.subplots()
        rows = -np.arange(len(runs))
        for outcome in OUTCOMES:
            points = [_probability(run, outcome) for run in runs]
            means = np.array([p.mean for p in points])
            # Where every draw agrees (a fixed outcome prior, no reports) the interval collapses
            # onto the mean, and rounding can put the mean a hair outside it.
            errors = np.maximum(
                [means - [p.lower for p in points], [p.upper for p in points] - means], 0.0
            )
            axes.errorbar(
                means,
                rows + _OFFSETS[outcome],
                xerr=errors,
                fmt=_MARKERS[outcome],
                color=OUTCOME_COLOURS[outcome],
                markersize=6,
                capsize=3,
                label=_outcome_name(outcome),
            )
        axes.set_yticks(rows, [_wrap(run.name) for run in runs])
        axes.set_xlim(0, 1)
        axes.xaxis.set_major_formatter(PercentFormatter(1.0))
        axes.set_xlabel("Probability (point: mean; bar: 90% interval)")
        figure.suptitle("How the crisis ends, by scenario")
        _legend(figure, axes)


def plot_contributions(run: Run, catalog: Catalog, path: Path) -> None:
    """Tornado chart: how far each indicator's reports moved each outcome's log-odds."""
    contributions = run.forecast.contributions
    with _figure(path, len(contributions)) as figure:
        figure.suptitle(f"What moved the forecast: {run.name}")
        if not contributions:
            _say(figure, "No reports move this forecast:\nit is the model's prior for the case.")
            return
        axes = figure.subplots()
        labels = [catalog.get(c.indicator).label for c in contributions]
        _grouped_bars(axes, [c.log_odds for c in contributions], labels)
        _symmetric(axes, [c.log_odds for c in contributions])
        axes.set_xlabel("Change in log-odds from the indicator's reports (with them minus without)")
        _legend(figure, axes)


def plot_sensitivity(sensitivity: Sensitivity, catalog: Catalog, path: Path) -> None:
    """For the indicators that matter most, the change in each outcome's probability if one
    more report said present, and if it said absent, against the scenario's forecast."""
    rows = sensitivity.if_reported[:SENSITIVITY_ROWS]
    # The rows were computed against the sensitivity's own run: measure changes from it.
    now = probabilities(sensitivity.run.forecast)
    labels = [catalog.get(row.indicator).label for row in rows]
    with _figure(path, len(rows)) as figure:
        present, absent = figure.subplots(1, 2, sharex=True, sharey=True)
        changes = {
            present: [_points_change(row.if_present, now) for row in rows],
            absent: [_points_change(row.if_absent, now) for row in rows],
        }
        for axes, title in ((present, "If reported present"), (absent, "If reported absent")):
            _grouped_bars(axes, changes[axes], labels)
            axes.set_title(title)
            axes.set_xlabel("Change in probability (percentage points)")
        _symmetric(present, [*changes[present], *changes[absent]])
        figure.suptitle(
            f"What one more grade-{sensitivity.grade} report would do: {sensitivity.run.name}"
        )
        _legend(figure, present)


def _grouped_bars(axes: Axes, values: Sequence[Mapping[str, float]], labels: Sequence[str]) -> None:
    """One row per item, first on top, with a horizontal bar per outcome."""
    rows = -np.arange(len(values))
    for outcome in OUTCOMES:
        axes.barh(
            rows + _OFFSETS[outcome],
            [value[outcome] for value in values],
            height=_BAR_HEIGHT,
            color=OUTCOME_COLOURS[outcome],
            label=_outcome_name(outcome),
        )
    axes.set_yticks(rows, [_wrap(label) for label in labels])
    axes.axvline(0.0, color="#333333", linewidth=0.8)


def _symmetric(axes: Axes, values: Sequence[Mapping[str, float]]) -> None:
    """Centre zero, so that bars for and against an outcome compare at a glance."""
    largest = max((abs(v) for value in values for v in value.values()), default=0.0)
    limit = 1.15 * largest or 1.0
    axes.set_xlim(-limit, limit)


def _legend(figure: Figure, axes: Axes) -> None:
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(OUTCOMES), frameon=False)


def _say(figure: Figure, message: str) -> None:
    """A figure that states why there is nothing to plot, rather than an empty axis."""
    figure.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, color="#333333")


def _points_change(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, float]:
    return {outcome: 100.0 * (after[outcome] - before[outcome]) for outcome in OUTCOMES}


def _wrap(label: str) -> str:
    return textwrap.fill(label, _LABEL_CHARACTERS)


# The document, as blocks that both formats render.


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


@dataclass(frozen=True)
class _Text:
    text: str
    warning: bool = False


@dataclass(frozen=True)
class _Table:
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


@dataclass(frozen=True)
class _Image:
    file: str  # beside the document
    alt: str


type _Block = _Heading | _Text | _Table | _Image


def _document(sections: Sequence[_Section], catalog: Catalog, artifact_id: str) -> list[_Block]:
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    runs = [section.run for section in sections]
    blocks: list[_Block] = [
        _Heading(1, "Escalation forecast report"),
        _Text(f"Model artifact {artifact_id}; generated {generated}."),
    ]
    if not runs:
        return blocks
    blocks += [
        _scenarios_table(runs),
        _Heading(2, "Summary"),
        _summary_table(runs),
        _Image(_PROBABILITIES_PNG, "Outcome probabilities with 90% intervals, by scenario"),
    ]
    for section in sections:
        blocks.extend(_scenario_blocks(section, catalog))
    return blocks


def _scenarios_table(runs: Sequence[Run]) -> _Table:
    return _Table(
        ("scenario", "title", "as of", "reports", "sha256"),
        [
            (
                run.name,
                run.scenario.title,
                run.scenario.as_of.isoformat(),
                str(len(run.scenario.reports)),
                run.loaded.sha256,
            )
            for run in runs
        ],
    )


def _summary_table(runs: Sequence[Run]) -> _Table:
    rows = []
    for run in runs:
        for k, p in enumerate(run.forecast.probabilities):
            # A scenario's name and date head its first row only: the rows read as a group.
            first = (run.name, run.scenario.as_of.isoformat()) if k == 0 else ("", "")
            interval = f"{_percent(p.lower)} – {_percent(p.upper)}"
            rows.append(
                (*first, _outcome_name(p.outcome), _percent(p.mean), interval, icd203(p.mean))
            )
    return _Table(("scenario", "as of", "outcome", "probability", "90% interval", "ICD-203"), rows)


def _scenario_blocks(section: _Section, catalog: Catalog) -> list[_Block]:
    run, sensitivity = section.run, section.sensitivity
    scenario, forecast = run.scenario, run.forecast
    blocks: list[_Block] = [
        _Heading(2, run.name),
        _Text(scenario.title),
        _Text(
            f"Base case {scenario.base_case}, as of {scenario.as_of}, "
            f"{_count(len(scenario.reports), 'report')}. Pareto k {forecast.pareto_k:.2f}; "
            f"effective draws {forecast.effective_draws:.0f} of {forecast.draws}."
        ),
        *_warnings(run),
        _Heading(3, "What moved the forecast"),
        _Text(
            "How far each indicator's reports moved each outcome's log-odds (with them minus "
            "without them), largest first."
        ),
        _Image(section.contributions_png, f"Contributions of each indicator: {run.name}"),
        _Heading(3, "What would move it"),
        _Text(
            f"The forecast if one more grade-{sensitivity.grade} report on {scenario.as_of} said "
            "an indicator is present, or absent: indicators without reports first, by value of "
            "information (the expected reduction in uncertainty about the outcome, in bits), "
            "then reported ones by how far the report would move the forecast."
        ),
        _Image(section.sensitivity_png, f"Sensitivity to one more report: {run.name}"),
        _sensitivity_table(sensitivity.if_reported, catalog),
    ]
    if sensitivity.overrides:
        blocks += [
            _Heading(3, "Overrides"),
            _Text("The forecast under each of the scenario's overrides alone, against none."),
            _overrides_table(sensitivity.overrides),
        ]
    blocks += [_Heading(3, "Evidence"), _evidence(scenario.reports, catalog)]
    return blocks


def _warnings(run: Run) -> list[_Block]:
    forecast, warnings = run.forecast, []
    if forecast.surprise:
        warnings.append(
            "Surprise: these reports are unlikely under every outcome; the model may be "
            "missing what is going on."
        )
    if forecast.pareto_k > RELIABLE_K:  # inf when no tail could be fitted
        warnings.append(
            f"Pareto k {forecast.pareto_k:.2f} > {RELIABLE_K}: this case is unlike the "
            "reference cases, and the reweighted draws behind its forecast are not to be trusted."
        )
    return [_Text(text, warning=True) for text in warnings]


def _sensitivity_table(rows: Sequence[IfReported], catalog: Catalog) -> _Table:
    names = [_outcome_name(outcome) for outcome in OUTCOMES]
    return _Table(
        (
            "indicator",
            "value of information",
            *(f"if present: {name}" for name in names),
            *(f"if absent: {name}" for name in names),
        ),
        [
            (
                catalog.get(row.indicator).label,
                "reported" if row.bits is None else f"{row.bits:.3f} bits",
                *(_percent(row.if_present[outcome]) for outcome in OUTCOMES),
                *(_percent(row.if_absent[outcome]) for outcome in OUTCOMES),
            )
            for row in rows
        ],
    )


def _overrides_table(shifts: Sequence[OverrideShift]) -> _Table:
    return _Table(
        ("override", *(_outcome_name(outcome) for outcome in OUTCOMES)),
        [
            (
                shift.label,
                *(
                    f"{_percent(shift.probabilities[outcome])} "
                    f"({100 * shift.effect[outcome]:+.1f} pp)"
                    for outcome in OUTCOMES
                ),
            )
            for shift in shifts
        ],
    )


def _evidence(reports: Sequence[ReportEntry], catalog: Catalog) -> _Block:
    if not reports:
        return _Text("No reports.")
    return _Table(
        ("indicator", "value", "observed on", "grade", "source", "note"),
        [
            (
                catalog.get(report.indicator).label,
                _report_value(report.value),
                report.observed_on.isoformat(),
                report.grade,
                report.source,
                report.note,
            )
            for report in reports
        ],
    )


def _report_value(value: float) -> str:
    return {1.0: "present", 0.0: "absent"}.get(value, f"{value:.0%} likely present")


def _probability(run: Run, outcome: str) -> OutcomeProbability:
    return next(p for p in run.forecast.probabilities if p.outcome == outcome)


def _outcome_name(outcome: str) -> str:
    return outcome.replace("_", " ")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _percent(probability: float) -> str:
    return f"{probability:.1%}"


# The track record.

_RELIABILITY_PNG = "reliability.png"
SQUARE_ROWS = 16
"""Rows of a figure as tall as it is wide (`figure_size`)."""
_METRIC_NAMES = {"brier": "Brier (0-2)", "log": "Log score (nats)", "rps": "RPS (0-1)"}


def track_record_blocks(artifact_id: str, record: TrackRecord) -> list[_Block]:
    """The service's track record: scores beside the base rate's, at lead times, the
    calibration table with its diagram, and discrimination."""
    blocks: list[_Block] = [
        _Heading(2, "Track record"),
        _Text(
            f"{_count(record.cases, 'resolved case')}, scored with model {artifact_id}: the "
            "forecast in force each day whose horizon reaches the outcome, time-averaged, each "
            "case weighing once. Lower is better; intervals are 90%, resampling cases."
        ),
    ]
    if record.cases == 0:
        return blocks
    blocks.append(
        _Table(
            ("Score", "Forecasts", "Base rate", "Difference"),
            [
                (_METRIC_NAMES[metric], *map(_estimate, (s.forecast, s.base_rate, s.difference)))
                for metric, s in record.time_averaged.items()
            ],
        )
    )
    leads = [(lead, scores["brier"]) for lead, scores in record.at_lead.items() if scores]
    if leads:
        blocks.append(
            _Table(
                ("Days before the outcome", "Cases", "Brier", "Base rate", "Difference"),
                [
                    (
                        str(lead),
                        str(s.cases),
                        *map(_estimate, (s.forecast, s.base_rate, s.difference)),
                    )
                    for lead, s in leads
                ],
            )
        )
    blocks += [
        _Heading(3, "Calibration"),
        _Table(
            ("Forecast", "Forecasts", "Cases", "Mean forecast", "Observed (90%)"),
            [
                (
                    f"{bin.lower:.0%}-{bin.upper:.0%}",
                    str(bin.forecasts),
                    str(bin.cases),
                    _percent(bin.mean_forecast),
                    f"{_percent(bin.observed.mean)} "
                    f"({_percent(bin.observed.lower)} to {_percent(bin.observed.upper)})",
                )
                for bin in record.calibration
            ],
        ),
        _Image(_RELIABILITY_PNG, "Reliability diagram: forecast against observed frequency"),
        _Heading(3, "Discrimination (AUC)"),
        _Table(
            ("Outcome", "AUC (90%)"),
            [
                (
                    _outcome_name(outcome),
                    "not defined (every case, or none, ended so)"
                    if auc is None
                    else f"{auc.mean:.2f} ({auc.lower:.2f} to {auc.upper:.2f})",
                )
                for outcome, auc in record.auc.items()
            ],
        ),
    ]
    return blocks


def _estimate(estimate: Estimate) -> str:
    return f"{estimate.mean:.3f} ({estimate.lower:.3f} to {estimate.upper:.3f})"


def plot_reliability(record: TrackRecord, path: Path) -> None:
    """Each calibration bin's observed frequency (with its interval) against its mean
    forecast, beside the diagonal of a calibrated forecaster."""
    with _figure(path, rows=SQUARE_ROWS) as figure:
        axes = figure.add_subplot()
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
        for bin in record.calibration:
            error = [
                [bin.observed.mean - bin.observed.lower],
                [bin.observed.upper - bin.observed.mean],
            ]
            axes.errorbar(
                bin.mean_forecast, bin.observed.mean, yerr=error, fmt="o", color="#0072B2"
            )
        axes.set(xlim=(0, 1), ylim=(0, 1), xlabel="forecast", ylabel="observed frequency")
        axes.set_aspect("equal")


# Rendering.


def _html(blocks: Sequence[_Block], out: Path) -> str:
    """A single HTML5 page: styles inline and plots as data URIs, so it works offline and
    survives being mailed on its own."""
    title = next(block.text for block in blocks if isinstance(block, _Heading))
    body = "\n".join(_html_block(block, out) for block in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _html_block(block: _Block, out: Path) -> str:
    match block:
        case _Heading(level, text):
            return f"<h{level}>{html.escape(text)}</h{level}>"
        case _Text(text, warning):
            if warning:
                return f'<p class="warning"><strong>Warning:</strong> {html.escape(text)}</p>'
            return f"<p>{html.escape(text)}</p>"
        case _Table(columns, rows):
            head = "".join(f'<th scope="col">{html.escape(column)}</th>' for column in columns)
            body = "\n".join(
                "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                for row in rows
            )
            return (
                f'<div class="scroll"><table>\n<thead><tr>{head}</tr></thead>\n'
                f"<tbody>\n{body}\n</tbody>\n</table></div>"
            )
        case _Image(file, alt):
            data = base64.b64encode((out / file).read_bytes()).decode("ascii")
            return (
                f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'
                f"<figcaption>{html.escape(file)}</figcaption></figure>"
            )


def _markdown(blocks: Sequence[_Block]) -> str:
    return "\n\n".join(_markdown_block(block) for block in blocks) + "\n"


def _markdown_block(block: _Block) -> str:
    match block:
        case _Heading(level, text):
            return f"{'#' * level} {_md(text)}"
        case _Text(text, warning):
            return f"> **Warning:** {_md(text)}" if warning else _md(text)
        case _Table(columns, rows):
            lines = [columns, tuple("---" for _ in columns), *rows]
            return "\n".join("| " + " | ".join(_md(cell) for cell in line) + " |" for line in lines)
        case _Image(file, alt):
            return f"![{_md(alt)}]({file})"


def _md(text: str) -> str:
    """Text as literal Markdown: specials backslash-escaped, on one line (tables need that)."""
    return re.sub(r"([\\`*_\[\]<>|#&])", r"\\\1", " ".join(text.split()))
