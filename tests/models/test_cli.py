"""The `forecast` command, through Typer's runner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from models import cli
from models.catalog import OUTCOMES, load_catalog
from models.cli import app

from ..files import ROOT

BASELINE = ROOT / "scenarios" / "baseline-2022-07-19.yaml"
runner = CliRunner()


def test_run_prints_a_table_naming_model_and_scenario(artifact_path: Path) -> None:
    result = runner.invoke(app, ["run", str(BASELINE), "--artifact", str(artifact_path)])
    assert result.exit_code == 0, result.output
    for outcome in OUTCOMES:
        assert outcome in result.output
    assert "90% interval" in result.output and "ICD-203" in result.output
    assert "baseline-2022-07-19" in result.output and "model m-" in result.output


def test_run_json_is_complete(artifact_path: Path) -> None:
    result = runner.invoke(app, ["run", str(BASELINE), "--json", "--artifact", str(artifact_path)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["scenario"] == "baseline-2022-07-19" and len(record["scenario_sha256"]) == 64
    assert record["artifact_id"].startswith("m-")
    means = [p["mean"] for p in record["probabilities"]]
    assert sum(means) == pytest.approx(1.0)
    assert all(p["lower"] <= p["mean"] <= p["upper"] for p in record["probabilities"])
    reported = set(record_indicators()) - UNREPORTED
    assert {c["indicator"] for c in record["contributions"]} == reported
    assert {v["indicator"] for v in record["value_of_information"]} == UNREPORTED
    assert record["prior"]["kind"] == "join_war" and record["prior"]["source"] == "catalog"
    assert record["evidence_ratios"]["no_entry"] == 1.0
    assert len(record["base_rates"]) == 2 * len(OUTCOMES)


UNREPORTED = {"civil_alerts", "provocation_warnings"}  # the article is silent on them


def record_indicators() -> list[str]:
    return list(load_catalog().ids)


def test_bad_scenario_is_one_line_and_exit_2(tmp_path: Path, artifact_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(BASELINE.read_text().replace("grade: C\n", "grade: Z\n", 1))
    result = runner.invoke(app, ["run", str(broken), "--artifact", str(artifact_path)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {broken}:")


def test_missing_artifact_says_to_fit(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(BASELINE), "--artifact", str(tmp_path / "no.npz")])
    assert result.exit_code == 2
    assert "run `forecast fit`" in result.stderr


def test_subprocess_run_matches_the_runner(artifact_path: Path) -> None:
    command = [str(Path(sys.executable).with_name("forecast")), "run", str(BASELINE), "--json"]
    completed = subprocess.run(
        [*command, "--artifact", str(artifact_path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    in_process = runner.invoke(
        app, ["run", str(BASELINE), "--json", "--artifact", str(artifact_path)]
    )
    assert json.loads(completed.stdout) == json.loads(in_process.stdout)


def test_help_shows_examples() -> None:
    for command in ("run", "compare", "sensitivity", "report", "fit", "diagnose"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output and "forecast " in result.output


def invoke_json(artifact_path: Path, *arguments: str) -> Any:
    result = runner.invoke(app, [*arguments, "--json", "--artifact", str(artifact_path)])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


NO_EVIDENCE = ROOT / "scenarios" / "no-evidence.yaml"


def test_run_puts_several_scenarios_in_one_table(artifact_path: Path) -> None:
    files = [str(BASELINE), str(NO_EVIDENCE)]
    result = runner.invoke(app, ["run", *files, "--artifact", str(artifact_path)])
    assert result.exit_code == 0, result.output
    assert result.output.count("Forecasts (model m-") == 1
    assert "baseline-2022-07-19" in result.output and "no-evidence" in result.output
    records = invoke_json(artifact_path, "run", *files)
    assert [r["scenario"] for r in records] == ["baseline-2022-07-19", "no-evidence"]


def confirmed(directory: Path) -> Path:
    """The baseline plus one reliable report of covert mobilization, a week later."""
    (directory / BASELINE.name).write_text(BASELINE.read_text())
    path = directory / "confirmed.yaml"
    path.write_text(
        "version: 1\ntitle: Mobilization confirmed\nextends: baseline-2022-07-19\n"
        "base_case: belarus-ukraine-2022\nkind: join_war\n"
        "as_of: 2022-07-26\nhorizon_days: 90\nreports:\n"
        "  - {indicator: covert_mobilization, value: present, observed_on: 2022-07-25,\n"
        "     source: Allied intelligence, grade: A}\n"
    )
    return path


def test_compare_names_what_makes_the_difference(tmp_path: Path, artifact_path: Path) -> None:
    later = confirmed(tmp_path)
    result = invoke_json(artifact_path, "compare", str(BASELINE), str(later))
    a, b = result["a"]["probabilities"], result["b"]["probabilities"]
    for before, after in zip(a, b, strict=True):
        assert result["change"][before["outcome"]] == pytest.approx(after["mean"] - before["mean"])
    kinds = {d["kind"]: d for d in result["differences"]}
    assert [d["kind"] for d in result["differences"]] == ["date", "added"]  # the path's order
    for outcome, total in result["change"].items():
        steps = sum(d["effect"][outcome] for d in result["differences"])
        assert steps == pytest.approx(total, abs=1e-12)
    assert "covert_mobilization present (A, 2022-07-25" in kinds["added"]["what"]
    # The catalog makes covert mobilization far likelier before an invasion than otherwise.
    assert kinds["added"]["effect"]["direct_invasion"] > 0.02
    back = invoke_json(artifact_path, "compare", str(later), str(BASELINE))
    assert [d["kind"] for d in back["differences"] if d["kind"] != "date"] == ["removed"]


def test_sensitivity_ranks_unreported_indicators_by_value(artifact_path: Path) -> None:
    rows = invoke_json(artifact_path, "sensitivity", str(NO_EVIDENCE))["if_reported"]
    assert len(rows) == len(record_indicators())
    bits = [row["bits"] for row in rows]
    assert bits == sorted(bits, reverse=True) and bits[-1] >= 0 and bits[0] > 0
    top = rows[0]
    assert (top["if_present"]["direct_invasion"] - top["if_absent"]["direct_invasion"]) != 0
    baseline = invoke_json(artifact_path, "sensitivity", str(BASELINE))["if_reported"]
    assert {row["indicator"] for row in baseline if row["bits"] is not None} == UNREPORTED


def test_sensitivity_moves_under_each_override(tmp_path: Path, artifact_path: Path) -> None:
    path = confirmed(tmp_path)
    path.write_text(
        path.read_text()
        + "overrides:\n  likelihoods:\n"
        + "    covert_mobilization: {no_entry: 0.5, false_flag: 0.5, direct_invasion: 0.5}\n"
        + "  outcome_prior: {no_entry: 0.9, false_flag: 0.017, direct_invasion: 0.083}\n"
    )
    shifts = invoke_json(artifact_path, "sensitivity", str(path))["overrides"]
    labels = [shift["label"] for shift in shifts]
    assert labels == ["likelihood of covert_mobilization", "outcome prior"]
    # An uninformative likelihood removes the confirmed mobilization's push towards invasion.
    assert shifts[0]["effect"]["direct_invasion"] < -0.02
    # A prior far more sure of no entry than the population's (0.68) raises it.
    assert shifts[1]["effect"]["no_entry"] > 0.05


def test_report_writes_an_offline_page_with_plots(tmp_path: Path, artifact_path: Path) -> None:
    out = tmp_path / "report"
    written = invoke_json(
        artifact_path, "report", str(BASELINE), str(NO_EVIDENCE), "--out", str(out)
    )
    page = Path(written["report"])
    assert page == out / "index.html" and page.is_file()
    assert {Path(plot).name for plot in written["plots"]} >= {
        "probabilities.png",
        "contributions-no-evidence.png",
        "sensitivity-baseline-2022-07-19.png",
    }
    assert written["scenarios"]["no-evidence"] in page.read_text(encoding="utf-8")
    markdown = runner.invoke(
        app,
        [
            "report",
            str(BASELINE),
            "--out",
            str(out),
            "--format",
            "md",
            "--artifact",
            str(artifact_path),
        ],
    )
    assert markdown.exit_code == 0, markdown.output
    assert (out / "report.md").is_file() and "Wrote" in markdown.stdout


@pytest.mark.slow
def test_fit_writes_an_artifact_and_reports_it_as_json(tmp_path: Path) -> None:
    artifact = tmp_path / "posterior.npz"
    # Two chains (for speed) need more than the default 1,000 draws each to reach the bulk
    # ESS of 400 a fit must pass: 1,000 gave 386 (December 2026's packages), 1,500 gave 765;
    # the tuning shortened to keep the steps per chain as they were.
    sampling = ["--chains", "2", "--tune", "1000", "--draws", "1500"]
    result = runner.invoke(
        app, ["fit", *sampling, "--quiet", "--json", "--artifact", str(artifact)]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads(result.stdout)
    assert meta["artifact"] == str(artifact) and artifact.is_file()
    assert meta["sampler"]["chains"] == 2 and meta["diagnostics"]["passed"]
    ran = invoke_json(artifact, "run", str(BASELINE))
    assert ran["artifact_id"] == meta["artifact_id"]


def test_unwritable_output_is_one_line(tmp_path: Path, artifact_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    result = runner.invoke(
        app, ["report", str(BASELINE), "--out", str(blocked), "--artifact", str(artifact_path)]
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")


def test_diagnose_summarises_every_parameter(artifact_path: Path) -> None:
    facts = invoke_json(artifact_path, "diagnose")
    assert facts["artifact_id"].startswith("m-") and facts["plots"] == []
    rows = {row["parameter"]: row for row in facts["summary"]}
    groups = len(load_catalog().groups)
    assert len(rows) == len(OUTCOMES) * groups + 2 * len(record_indicators())
    assert len(facts["prior_check"]) == len(OUTCOMES) * len(record_indicators())
    assert max(row["r_hat"] for row in rows.values()) < 1.01  # the fit passed its diagnostics
    shown = runner.invoke(app, ["diagnose", "--rows", "3", "--artifact", str(artifact_path)])
    assert (
        shown.exit_code == 0 and "theta[" in shown.stdout and facts["artifact_id"] in shown.stdout
    )
    assert "Prior predictive check" in shown.stdout


EPISODES = """version: 1
horizon_days: 90
cases:
  - id: invasion-a
    state: A
    target: B
    patron: null
    as_of: 2000-01-01
    outcome: direct_invasion
    resolved_on: 2000-02-01
    label_confidence: 0.95
    indicators: {covert_mobilization: present, troop_shortfall: absent, officer_dissent: absent}
  - id: scare-b
    state: C
    target: D
    patron: null
    as_of: 2001-01-01
    outcome: no_entry
    resolved_on: 2001-04-01
    label_confidence: 0.9
    indicators: {covert_mobilization: absent, troop_shortfall: present, public_opposition: present}
  - id: joiner-c
    state: E
    target: F
    patron: G
    as_of: 2002-01-01
    outcome: direct_invasion
    resolved_on: 2002-03-01
    label_confidence: 0.8
    indicators: {patron_pressure_to_enter: present, covert_mobilization: present}
"""


def test_backtest_scores_a_file_of_coded_episodes(
    tmp_path: Path, artifact_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file in the reference format, coded by someone else (indicators left out, no kind):
    per episode and in total, against the base rate, with intervals."""
    path = tmp_path / "episodes.yaml"
    path.write_text(EPISODES)
    result = invoke_json(artifact_path, "backtest", str(path))
    episodes = {row["id"]: row for row in result["episodes"]}
    assert set(episodes) == {"invasion-a", "scare-b", "joiner-c"}
    assert episodes["joiner-c"]["kind"] == "join_war"
    assert episodes["invasion-a"]["forecast"][2] > episodes["scare-b"]["forecast"][2]
    served = result["as_served"]["model"]
    assert served["brier_skill"]["lower"] <= served["brier_skill"]["value"]
    assert served["brier_skill"]["value"] <= served["brier_skill"]["upper"]
    assert set(result["evidence"]) == {"file_frequency", "model_with_file_prior"}
    assert 0.9 < result["coding_reliability"] <= 1.0
    # A wide terminal's tables, not the runner's 80 columns (the console reads COLUMNS when it is
    # made, at import; under pytest-xdist that is 80).
    monkeypatch.setattr(cli.console, "_width", 200)
    shown = runner.invoke(app, ["backtest", str(path), "--artifact", str(artifact_path)])
    assert shown.exit_code == 0, shown.output
    assert "invasion-a" in shown.stdout and "Brier skill" in shown.stdout


def test_backtest_names_a_bad_episode(tmp_path: Path, artifact_path: Path) -> None:
    path = tmp_path / "episodes.yaml"
    path.write_text(
        EPISODES.replace(
            "covert_mobilization: present, troop", "covert_mobilisation: present, troop"
        )
    )
    result = runner.invoke(app, ["backtest", str(path), "--artifact", str(artifact_path)])
    assert result.exit_code == 2
    assert "(invasion-a).indicators.covert_mobilisation" in result.stderr
    assert "did you mean 'covert_mobilization'" in result.stderr


def test_agreement_reports_kappa_per_indicator() -> None:
    result = runner.invoke(app, ["agreement", "--json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["episodes"] >= 20
    assert {row["indicator"] for row in record["per_indicator"]} == set(record_indicators())
    assert 0.9 < record["reliability"] <= 1.0
