"""What-if: hypothetical reports on top of the live ones, or a scenario file; nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.cli import app as cli

from ..files import ROOT
from ..service import AUTH, FORECAST, REPORTS, WHAT_IF, report

BASELINE = ROOT / "scenarios" / "baseline-2022-07-19.yaml"

pytestmark = pytest.mark.usefixtures("case")


def test_hypothetical_reports_add_to_the_live_ones_and_store_nothing(client: TestClient) -> None:
    client.post(REPORTS, json=report(), headers=AUTH)
    history_before = client.get(f"{FORECAST}/history").json()
    answer = client.post(WHAT_IF, json={"reports": [report(indicator="pretext_claims", grade="A")]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["reports_used"] == 2
    assert len(client.get(REPORTS).json()) == 1
    assert client.get(f"{FORECAST}/history").json() == history_before


OVERRIDES = """
version: 1
title: The baseline, were pretext claims no sign of anything and the outcomes equally likely
extends: baseline-2022-07-19
base_case: belarus-ukraine-2022
kind: join_war
as_of: 2022-07-19
horizon_days: 90
overrides:
  likelihoods:
    pretext_claims: {no_entry: 0.5, false_flag: 0.5, direct_invasion: 0.5}
  outcome_prior: {no_entry: 0.34, false_flag: 0.33, direct_invasion: 0.33}
"""


def scenario_files() -> list[Path]:
    return sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("name", [p.stem for p in scenario_files()] + ["with-overrides"])
def test_a_scenario_gives_the_same_numbers_as_forecast_run(
    client: TestClient, artifact_path: Path, tmp_path: Path, name: str
) -> None:
    """One truth: the service and the CLI, given one scenario, give the same record, numbers,
    provenance and scenario hash alike (the overrides one extends the baseline: a copy of the
    library is beside it, so both resolve `extends` to the same file)."""
    for shipped in scenario_files():
        (tmp_path / shipped.name).write_text(shipped.read_text())
    path = tmp_path / f"{name}.yaml"
    if name == "with-overrides":
        path.write_text(OVERRIDES)
    answer = client.post(WHAT_IF, json={"scenario": path.read_text()})
    assert answer.status_code == 200, answer.text
    run = CliRunner().invoke(cli, ["run", str(path), "--json", "--artifact", str(artifact_path)])
    expected, served = json.loads(run.stdout), answer.json()
    assert expected.pop("scenario") == path.stem
    assert served == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"scenario": "version: 1\ntitle: [broken\n"}, "YAML syntax error"),
        ({"scenario": BASELINE.read_text().replace("grade: C\n", "grade: Q\n", 1)}, "grade"),
        ({"reports": [report(indicator="pretext_claim")]}, "did you mean 'pretext_claims'"),
        ({"reports": [report()], "scenario": BASELINE.read_text()}, "not both"),
        ({"scenario": BASELINE.read_text().replace("case: bel", "case: x-bel")}, "is about case"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_what_if_is_a_422(client: TestClient, body: dict[str, object], expected: str) -> None:
    answer = client.post(WHAT_IF, json=body)
    assert answer.status_code == 422 and expected in answer.text, answer.text
    if "scenario" in body and "reports" not in body:
        assert answer.json()["detail"][0]["loc"][:2] == ["body", "scenario"]


def test_unknown_case_is_404(client: TestClient) -> None:
    assert client.post("/v1/cases/nowhere/what-if", json={"reports": []}).status_code == 404
