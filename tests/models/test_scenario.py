"""Scenario files: the shipped ones validate; broken ones fail naming file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.catalog import Catalog
from models.errors import ScenarioError
from models.scenario import load_scenario

from ..files import ROOT, broken_copy, line_of

BASELINE = ROOT / "scenarios" / "baseline-2022-07-19.yaml"


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_validates(path: Path, catalog: Catalog) -> None:
    loaded = load_scenario(path, catalog)
    assert loaded.name == path.stem
    assert len(loaded.sha256) == 64


def test_baseline_holds_the_articles_reports(catalog: Catalog) -> None:
    scenario = load_scenario(BASELINE, catalog).scenario
    assert scenario.base_case == "belarus-ukraine-2022"
    assert str(scenario.as_of) == "2022-07-19"
    reported = {entry.indicator for entry in scenario.reports}
    # Everything the article reports; it is silent on evacuations, and its own warning of false
    # flags is a commentator's, which the codebook does not count as a warning.
    assert reported == set(catalog.ids) - {"civil_alerts", "provocation_warnings"}
    assert all(entry.source for entry in scenario.reports)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    return broken_copy(BASELINE, tmp_path, old, new)


@pytest.mark.parametrize(
    ("old", "new", "fragment", "reason"),
    [
        (
            "indicator: covert_mobilization",
            "indicator: covert_mobilisation",
            "covert_mobilisation",
            "unknown indicator 'covert_mobilisation' (did you mean 'covert_mobilization'?)",
        ),
        ("grade: C\n", "grade: G\n", "grade: G", "reports[0].grade"),
        ("observed_on: 2022-06-30", "observed_on: 2022-06-31", "2022-06-31", "observed_on"),
        (
            "observed_on: 2022-06-30",
            "observed_on: 2022-08-30",
            "2022-08-30",
            "after the scenario's as_of",
        ),
        ("value: present\n", "value: 1.5\n", "value: 1.5", "reports[0].value"),
        ("value: present\n", "value: .inf\n", "value: .inf", "reports[0].value"),
        ("horizon_days: 90", "horizon_days: 30", "horizon_days", "calibrated for a 90-day horizon"),
        (
            "  - indicator: mobilization_drills",
            "  - indicatr: mobilization_drills",
            "indicatr",
            "did you mean 'indicator'",
        ),
    ],
)
def test_bad_scenarios_name_file_line_and_reason(
    tmp_path: Path, catalog: Catalog, old: str, new: str, fragment: str, reason: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ScenarioError) as error:
        load_scenario(path, catalog)
    message = str(error.value)
    assert message.startswith(f"{path}:{line_of(path, fragment)}:"), message
    assert reason in message


def test_yaml_syntax_error_names_the_line(tmp_path: Path, catalog: Catalog) -> None:
    path = _broken(tmp_path, "    grade: B\n", "    grade: [B\n")
    with pytest.raises(ScenarioError, match=r"baseline-2022-07-19.yaml:\d+: YAML syntax error"):
        load_scenario(path, catalog)


def test_missing_scenario_file(tmp_path: Path, catalog: Catalog) -> None:
    with pytest.raises(ScenarioError, match="cannot read file"):
        load_scenario(tmp_path / "nowhere.yaml", catalog)
