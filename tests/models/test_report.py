"""The report behind `forecast report`: real forecasts from the session's served model, written in
both formats and read back (the page, its embedded plots, the plot files themselves)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread
from pydantic import TypeAdapter
from typer.testing import CliRunner

from models import analysis
from models.analysis import Run, Sensitivity
from models.catalog import OUTCOMES, Catalog
from models.cli import app
from models.engine import Engine
from models.report import (
    DPI,
    OUTCOME_COLOURS,
    SENSITIVITY_ROWS,
    figure_size,
    safe_stems,
    step_count,
    write_report,
)
from models.scenario import load_scenario
from models.track_record import LEAD_DAYS, ResolvedCase, TrackRecord, track_record

from ..files import ROOT

BASELINE = ROOT / "scenarios" / "baseline-2022-07-19.yaml"

# No reports (nothing for the tornado chart to show), overrides (their table is written), a
# name that is no safe file name and a title that is no safe HTML.
PRIOR_ONLY_NAME = "Prior Only (test)"
PRIOR_ONLY = """\
version: 1
title: "Prior only <no reports> & two overrides"
base_case: belarus-ukraine-2022
kind: join_war
as_of: 2022-07-19
horizon_days: 90
overrides:
  likelihoods:
    covert_mobilization: {no_entry: 0.1, false_flag: 0.3, direct_invasion: 0.9}
  outcome_prior: {no_entry: 0.5, false_flag: 0.2, direct_invasion: 0.3}
"""


@dataclass(frozen=True)
class Analysed:
    runs: list[Run]
    sensitivities: list[Sensitivity]
    catalog: Catalog
    artifact_id: str


@dataclass(frozen=True)
class Written:
    path: Path
    steps: list[str]


@pytest.fixture(scope="module")
def analysed(artifact_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Analysed:
    engine = Engine.load(artifact_path)
    prior_only = tmp_path_factory.mktemp("scenarios") / f"{PRIOR_ONLY_NAME}.yaml"
    prior_only.write_text(PRIOR_ONLY, encoding="utf-8")
    loaded = [load_scenario(path, engine.catalog) for path in (BASELINE, prior_only)]
    sensitivities = [trusted(analysis.sensitivity(engine, scenario)) for scenario in loaded]
    return Analysed(
        [sensitivity.run for sensitivity in sensitivities],
        sensitivities,
        engine.catalog,
        engine.artifact.id,
    )


def trusted(sensitivity: Sensitivity) -> Sensitivity:
    """The forecast as if its reports fitted an outcome and its weights were reliable: whether
    they are depends on the model served, and the warnings are tested on `doubtful`."""
    forecast = dataclasses.replace(sensitivity.run.forecast, surprise=False, pareto_k=0.1)
    return dataclasses.replace(sensitivity, run=Run(sensitivity.run.loaded, forecast))


@pytest.fixture(scope="module")
def html_report(analysed: Analysed, tmp_path_factory: pytest.TempPathFactory) -> Written:
    steps: list[str] = []
    out = tmp_path_factory.mktemp("html") / "not" / "there"  # created by the writer
    path = write_report(
        analysed.sensitivities,
        analysed.catalog,
        analysed.artifact_id,
        out,
        progress=steps.append,
    )
    return Written(path, steps)


@pytest.fixture(scope="module")
def doubtful(analysed: Analysed) -> Run:
    """The baseline again, as if its reports fitted no outcome and its weights were unreliable."""
    baseline = analysed.runs[0]
    forecast = dataclasses.replace(baseline.forecast, surprise=True, pareto_k=float("inf"))
    return Run(baseline.loaded, forecast)


@pytest.fixture(scope="module")
def md_report(
    analysed: Analysed, doubtful: Run, tmp_path_factory: pytest.TempPathFactory
) -> Written:
    # The baseline twice, as `forecast report a.yaml a.yaml` would: each copy gets its own plots.
    path = write_report(
        [*analysed.sensitivities, dataclasses.replace(analysed.sensitivities[0], run=doubtful)],
        analysed.catalog,
        analysed.artifact_id,
        tmp_path_factory.mktemp("md"),
        fmt="md",
    )
    return Written(path, [])


def test_html_names_the_model_and_each_scenario_with_its_hash(
    html_report: Written, analysed: Analysed
) -> None:
    assert html_report.path.name == "index.html"
    page = html_report.path.read_text(encoding="utf-8")
    assert analysed.artifact_id in page
    for run in analysed.runs:
        assert f"<h2>{run.name}</h2>" in page
        assert run.loaded.sha256 in page


def test_html_is_self_contained_with_every_plot_embedded(html_report: Written) -> None:
    page = html_report.path.read_text(encoding="utf-8")
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    files = sorted(html_report.path.parent.glob("*.png"))
    assert len(files) == len(embedded) == 1 + 2 * 2  # the overview, two per scenario
    assert {base64.b64decode(data) for data in embedded} == {f.read_bytes() for f in files}


def test_html_is_well_formed_and_escaped(html_report: Written) -> None:
    page = html_report.path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    checker = TagChecker()
    checker.feed(page)
    checker.close()
    assert checker.open == [] and checker.seen >= {"html", "head", "body", "table", "img"}
    assert "Prior only &lt;no reports&gt; &amp; two overrides" in page
    assert "<no reports>" not in page


def test_html_has_every_section(html_report: Written, analysed: Analysed) -> None:
    page = html_report.path.read_text(encoding="utf-8")
    assert page.count("<h2>Summary</h2>") == 1
    for heading in ("What moved the forecast", "What would move it", "Evidence"):
        assert page.count(f"<h3>{heading}</h3>") == len(analysed.runs)
    assert page.count("<h3>Overrides</h3>") == 1  # only the scenario with overrides
    assert "ICD-203" in page and "90% interval" in page and "value of information" in page
    assert "Warning" not in page  # neither forecast is surprising or unreliable
    for report in analysed.runs[0].scenario.reports:
        assert escape(analysed.catalog.get(report.indicator).label) in page
        assert escape(report.source) in page
    for p in analysed.runs[0].forecast.probabilities:
        assert f"{p.mean:.1%}" in page


def test_plots_decode_at_their_size_show_every_outcome_and_have_safe_names(
    html_report: Written, analysed: Analysed
) -> None:
    out = html_report.path.parent
    baseline, prior_only = analysed.sensitivities
    assert not prior_only.run.forecast.contributions
    rows = {  # rows of each plot; None: the plot says there is nothing to show
        "probabilities.png": 2,
        "contributions-baseline-2022-07-19.png": len(baseline.run.forecast.contributions),
        "contributions-prior-only-test.png": None,
        "sensitivity-baseline-2022-07-19.png": SENSITIVITY_ROWS,
        "sensitivity-prior-only-test.png": SENSITIVITY_ROWS,
    }
    assert {path.name for path in out.glob("*.png")} == set(rows)
    assert all(re.fullmatch(r"[a-z0-9._-]+", path.name) for path in out.iterdir())
    for name, count in rows.items():
        pixels = imread(out / name)[..., :3]
        width, height = figure_size(count or 0)
        assert pixels.shape[:2] == (round(height * DPI), round(width * DPI)), name
        assert pixels.std() > 0.05, name
        assert colour_count(pixels) > 2, name
        if count is not None:
            for outcome, colour in OUTCOME_COLOURS.items():
                assert shows_colour(pixels, colour), (name, outcome)


def test_progress_reports_each_step(html_report: Written, analysed: Analysed) -> None:
    assert len(html_report.steps) == step_count(len(analysed.runs))
    assert all(any(run.name in step for step in html_report.steps) for run in analysed.runs)


def test_markdown_refers_to_the_plots_beside_it(md_report: Written, analysed: Analysed) -> None:
    assert md_report.path.name == "report.md"
    text = md_report.path.read_text(encoding="utf-8")
    out = md_report.path.parent
    references = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(references) == len(set(references)) == 1 + 2 * 3
    assert set(references) == {path.name for path in out.glob("*.png")}
    assert "contributions-baseline-2022-07-19-2.png" in references
    assert "data:" not in text and "http://" not in text and "https://" not in text
    assert analysed.artifact_id in text and "Prior Only (test)" in text
    assert r"Prior only \<no reports\> \& two overrides" in text
    for run in analysed.runs:
        assert run.loaded.sha256 in text


def test_markdown_warns_about_a_doubtful_forecast_in_its_section(md_report: Written) -> None:
    text = md_report.path.read_text(encoding="utf-8")
    sections = text.split("\n## ")
    doubtful = sections[-1]  # the last scenario
    assert doubtful.count("> **Warning:**") == 2
    assert "Surprise" in doubtful and r"Pareto k inf \> 0.7" in doubtful
    assert "Warning" not in "\n## ".join(sections[:-1])


def test_no_scenarios_writes_nothing(analysed: Analysed, tmp_path: Path) -> None:
    out = tmp_path / "report"
    with pytest.raises(ValueError, match="no scenarios and no track record"):
        write_report([], analysed.catalog, analysed.artifact_id, out)
    assert not out.exists()


def test_the_track_record_is_a_section_of_its_own(
    artifact_path: Path, analysed: Analysed, tmp_path: Path
) -> None:
    """What GET /v1/track-record answers, saved to a file, read by `forecast report`: its
    scores, calibration table, reliability diagram and AUC, with no scenario needed."""
    rng = np.random.default_rng(5)
    cases = []
    for c in range(40):
        forecasts = np.tile(rng.dirichlet([1, 1, 1]), (10, 1))
        outcome = OUTCOMES[rng.choice(3, p=forecasts[0])]
        days = [dt.date(2023, 1, 1) + dt.timedelta(days=d) for d in range(10)]
        leads = dict.fromkeys(LEAD_DAYS)
        base = np.full(3, 1 / 3)
        cases.append(
            ResolvedCase(f"c{c}", outcome, dt.date(2023, 1, 11), days, forecasts, leads, base)
        )
    answer = {
        "artifact_id": "m-scored",
        **TypeAdapter(TrackRecord).dump_python(track_record(cases), mode="json"),
    }
    saved = tmp_path / "track-record.json"
    saved.write_text(json.dumps(answer), encoding="utf-8")
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        ["report", "--track-record", str(saved), "--out", str(out), "--format", "md"]
        + ["--artifact", str(artifact_path)],
    )
    assert result.exit_code == 0, result.output
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## Track record" in text and "40 resolved cases, scored with model m-scored" in text
    bins = len(answer["calibration"])
    calibration = text.split("### Calibration")[1].split("![")[0]
    assert calibration.count("\n| ") == bins + 2  # the header, its rule and one row per bin
    assert "![Reliability diagram" in text and imread(out / "reliability.png").shape[0] > 500
    assert "Brier (0-2)" in text and "AUC" in text
    refused = CliRunner().invoke(app, ["report", "--out", str(out)])
    assert (
        refused.exit_code != 0 and "give scenario files, --track-record, or both" in refused.output
    )


def test_file_stems_are_safe_and_distinct() -> None:
    names = ["baseline-2022-07-19", "A/B c", "..", "x", "x"]
    assert safe_stems(names) == ["baseline-2022-07-19", "a-b-c", "scenario", "x", "x-2"]


def test_importing_the_module_does_not_load_matplotlib() -> None:
    code = "import sys, models.report; assert 'matplotlib' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


class TagChecker(HTMLParser):
    """Every element closed, in order (void elements excepted)."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.seen: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.seen.add(tag)
        if tag not in self.VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, tag


def colour_count(pixels: np.ndarray) -> int:
    codes = np.round(pixels * 255).astype(np.uint32) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
    return len(np.unique(codes))


def shows_colour(pixels: np.ndarray, colour: str) -> bool:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return bool(np.any(np.all(np.abs(pixels - rgb) < 1 / 255, axis=-1)))
