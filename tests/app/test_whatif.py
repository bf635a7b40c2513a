"""What-if: hypothetical reports on top of the live ones, or a scenario file; nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.cli import app as cli

from ..conftest import ROOT
from .conftest import AUTH
from .test_reports_and_forecast import FORECAST, REPORTS, report

WHAT_IF = FORECAST.replace("/forecast", "/what-if")
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


def test_a_scenario_gives_the_same_numbers_as_forecast_run(
    client: TestClient, artifact_path: Path
) -> None:
    answer = client.post(WHAT_IF, json={"scenario": BASELINE.read_text()}).json()
    run = CliRunner().invoke(
        cli, ["run", str(BASELINE), "--json", "--artifact", str(artifact_path)]
    )
    expected = json.loads(run.stdout)
    assert answer["probabilities"] == expected["probabilities"]
    assert answer["contributions"] == expected["contributions"]
    assert answer["as_of"] == "2022-07-19" and answer["reports_used"] == 17


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"scenario": "version: 1\ntitle: [broken\n"}, "YAML syntax error"),
        ({"scenario": BASELINE.read_text().replace("grade: C\n", "grade: Q\n", 1)}, "grade"),
        ({"reports": [report(indicator="pretext_claim")]}, "did you mean 'pretext_claims'"),
        ({"reports": [report()], "scenario": BASELINE.read_text()}, "not both"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_what_if_is_a_422(client: TestClient, body: dict[str, object], expected: str) -> None:
    answer = client.post(WHAT_IF, json=body)
    assert answer.status_code == 422 and expected in answer.text, answer.text
    if "scenario" in body and "reports" not in body:
        assert answer.json()["detail"][0]["loc"].startswith("body.scenario:")  # with the line


def test_unknown_case_is_404(client: TestClient) -> None:
    assert client.post("/v1/cases/nowhere/what-if", json={"reports": []}).status_code == 404
