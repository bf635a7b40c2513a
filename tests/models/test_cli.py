"""The `forecast` command, through Typer's runner and as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.catalog import OUTCOMES
from models.cli import app

from ..conftest import ROOT

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
    assert {c["indicator"] for c in record["contributions"]} == set(record_indicators())
    assert record["value_of_information"] == []  # the article reports every indicator


def record_indicators() -> list[str]:
    from models.catalog import load_catalog

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
    for command in ("run", "fit"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Example: forecast" in result.output
