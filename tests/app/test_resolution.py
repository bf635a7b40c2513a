"""Resolution and scoring, on SQLite and PostgreSQL: an admin resolves a case, corrects or
withdraws it with the record kept; a resolved case's forecasts are frozen at its resolution;
its scores equal a direct computation from its own timeline; the track record aggregates the
resolved cases; and a resolved case is offered as a reference case that the reference set's
own format accepts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError

from app.forecasting import today
from app.store.db import open_database
from app.store.tables import ForecastRow
from models.artifact import load_artifact, make_artifact, save_artifact
from models.catalog import OUTCOMES, load_catalog
from models.draws import ModelDraws
from models.reference import ReferenceCase, load_reference

from ..service import AUTH, BELARUS, CASE, FORECAST, REPORTS

RESOLUTION = f"/v1/cases/{CASE}/resolution"
OPENED = today() - dt.timedelta(days=40)
RESOLVED = today() - dt.timedelta(days=5)


def days_ago(days: int) -> str:
    return (today() - dt.timedelta(days=days)).isoformat()


def report(days: int, **change: Any) -> dict[str, Any]:
    """A report observed and known `days` ago."""
    base = {
        "indicator": "covert_mobilization",
        "value": "present",
        "observed_on": days_ago(days),
        "known_at": days_ago(days),
        "source": "a ministry's statement",
        "grade": "B",
    }
    return base | change


@pytest.fixture
def opened(client: TestClient) -> TestClient:
    """The Belarus case, open from 40 days ago, with reports known 30 and 10 days ago."""
    case = BELARUS | {"opened_on": OPENED.isoformat()}
    assert client.post("/v1/cases", json=case, headers=AUTH).status_code == 201
    reports = [report(30), report(10, indicator="pretext_claims")]
    assert client.post(REPORTS, json=reports, headers=AUTH).status_code == 201
    return client


def resolve(client: TestClient, **change: Any) -> dict[str, Any]:
    body = {
        "outcome": "direct_invasion",
        "resolved_on": RESOLVED.isoformat(),
        "source": "ISW, daily assessment",
    } | change
    response = client.post(RESOLUTION, json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_resolution_is_corrected_or_withdrawn_and_its_record_kept(opened: TestClient) -> None:
    first = resolve(opened, note="first reading")
    assert first["resolution"]["action"] == "resolve"
    assert opened.get(f"/v1/cases/{CASE}").json()["status"] == "resolved"
    corrected = resolve(opened, outcome="false_flag", label_confidence=0.8)
    assert corrected["resolution"]["action"] == "correct"
    assert corrected["resolution"]["outcome"] == "false_flag"
    withdrawn = opened.delete(RESOLUTION, params={"note": "sources disagree"}, headers=AUTH)
    assert withdrawn.status_code == 200, withdrawn.text
    record = opened.get(RESOLUTION).json()
    assert record["resolution"] is None
    assert [(e["action"], e["outcome"], e["recorded_by"]) for e in record["record"]] == [
        ("resolve", "direct_invasion", "admin"),
        ("correct", "false_flag", "admin"),
        ("withdraw", None, "admin"),
    ]
    case = opened.get(f"/v1/cases/{CASE}").json()
    assert case["status"] == "live" and case["resolved_as"] is None
    actions = [e["action"] for e in opened.get("/v1/audit", headers=AUTH).json()]
    assert actions[:3] == ["resolution.withdraw", "resolution.correct", "resolution.resolve"]
    assert opened.get(FORECAST).json()["as_of"] == today().isoformat()  # open again


def test_a_resolved_case_keeps_serving_its_forecast_frozen_at_the_resolution(
    opened: TestClient,
) -> None:
    before = opened.get(FORECAST, params={"as_of": RESOLVED.isoformat()}).json()
    resolve(opened)
    frozen = opened.get(FORECAST).json()
    assert frozen["as_of"] == RESOLVED.isoformat()
    assert frozen["probabilities"] == before["probabilities"]
    # A report that comes after the outcome is kept, and left out of the frozen forecast.
    late = opened.post(REPORTS, json=report(2), headers=AUTH)
    assert late.status_code == 201, late.text
    after = opened.get(FORECAST).json()
    assert after["probabilities"] == frozen["probabilities"] and after["reports_left_out"] == 1


def test_only_an_admin_resolves_and_bad_resolutions_are_refused(opened: TestClient) -> None:
    made = opened.post("/v1/keys", json={"name": "alice", "role": "analyst"}, headers=AUTH)
    analyst = {"Authorization": f"Bearer {made.json()['secret']}"}
    body = {"outcome": "no_entry", "resolved_on": RESOLVED.isoformat(), "source": "ISW"}
    assert opened.post(RESOLUTION, json=body, headers=analyst).status_code == 403
    refusals = [
        ({"resolved_on": days_ago(-1)}, "body.resolved_on", "in the future"),
        ({"resolved_on": days_ago(41)}, "body.resolved_on", "before the case's period"),
        ({"outcome": "coup"}, "body.outcome", "no_entry"),
        ({"source": ""}, "body.source", "at least 1"),
        ({"label_confidence": 0.2}, "body.label_confidence", "greater than"),
    ]
    for change, field, reason in refusals:
        response = opened.post(RESOLUTION, json=body | change, headers=AUTH)
        assert response.status_code == 422, (change, response.text)
        [error] = response.json()["detail"]
        loc = ".".join(map(str, error["loc"]))
        assert loc == field and reason in error["msg"], (change, error)
    assert opened.get(RESOLUTION).json()["record"] == []
    assert opened.delete(RESOLUTION, params={"note": "x"}, headers=AUTH).status_code == 409
    assert opened.get(f"/v1/cases/{CASE}/score").status_code == 409


def direct_scores(forecast: np.ndarray, outcome: str) -> dict[str, float]:
    """Brier, log score and RPS of one forecast, written out by hand."""
    truth = np.array([float(o == outcome) for o in OUTCOMES])
    return {
        "brier": float(((forecast - truth) ** 2).sum()),
        "log": float(-np.log(forecast[OUTCOMES.index(outcome)])),
        "rps": float(((np.cumsum(forecast)[:-1] - np.cumsum(truth)[:-1]) ** 2).sum() / 2),
    }


def test_the_time_averaged_scores_equal_a_direct_computation(opened: TestClient) -> None:
    resolve(opened)
    score = opened.get(f"/v1/cases/{CASE}/score")
    assert score.status_code == 200, score.text
    body = score.json()
    # Scored: the days from the period's opening (within the 90-day horizon) to the day
    # before the outcome, each with the forecast the timeline gives it.
    last = RESOLVED - dt.timedelta(days=1)
    params = {"from": OPENED.isoformat(), "to": last.isoformat()}
    points = opened.get(f"{FORECAST}/timeline", params=params).json()["points"]
    assert body["days_scored"] == len(points) == 35
    daily = [np.array([p["mean"] for p in point["probabilities"]]) for point in points]
    expected = [direct_scores(forecast, "direct_invasion") for forecast in daily]
    for metric in ("brier", "log", "rps"):
        direct = np.mean([day[metric] for day in expected])
        assert body["time_averaged"]["forecast"][metric] == pytest.approx(direct, rel=1e-9)
    # The forecast in force 30 days before the outcome; the case was not open 60 days before.
    at_30 = direct_scores(
        daily[(RESOLVED - dt.timedelta(days=30) - OPENED).days], "direct_invasion"
    )
    assert body["at_lead"]["30"]["forecast"] == pytest.approx(at_30)
    assert body["at_lead"]["60"] is None and body["at_lead"]["90"] is None
    base = np.array([body["base_rate"][o] for o in OUTCOMES])
    assert body["time_averaged"]["base_rate"] == pytest.approx(
        direct_scores(base, "direct_invasion")
    )


def test_the_track_record_aggregates_every_resolved_case(opened: TestClient) -> None:
    empty = opened.get("/v1/track-record").json()
    assert empty["cases"] == 0 and empty["records"] == [] and empty["calibration"] == []
    resolve(opened)
    other = BELARUS | {"id": "second-case", "opened_on": OPENED.isoformat()}
    assert opened.post("/v1/cases", json=other, headers=AUTH).status_code == 201
    body = {"outcome": "no_entry", "resolved_on": RESOLVED.isoformat(), "source": "ISW"}
    assert (
        opened.post("/v1/cases/second-case/resolution", json=body, headers=AUTH).status_code == 201
    )
    record = opened.get("/v1/track-record").json()
    assert record["cases"] == 2
    assert [r["case_id"] for r in record["records"]] == [CASE, "second-case"]
    scores = [r["time_averaged"]["forecast"]["brier"] for r in record["records"]]
    brier = record["time_averaged"]["brier"]
    assert brier["forecast"]["mean"] == pytest.approx(np.mean(scores))
    assert brier["forecast"]["lower"] <= brier["forecast"]["mean"] <= brier["forecast"]["upper"]
    # Each case weighs once per outcome: three forecasts a day, 35 days each.
    assert sum(row["forecasts"] for row in record["calibration"]) == 2 * 3 * 35
    assert record["auc"]["false_flag"] is None  # no case resolved as one
    assert record["auc"]["direct_invasion"] is not None


def test_a_resolved_case_is_offered_as_a_reference_case(opened: TestClient) -> None:
    resolve(opened, note="Belarusian battalions crossed near Chernihiv")
    offered = opened.get(RESOLUTION).json()["reference_case"]
    assert offered == f"/v1/cases/{CASE}/reference-case?format=yaml"
    answer = opened.get(offered)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/yaml"
    [candidate] = yaml.safe_load(answer.text)
    assert "check each against the codebook" in candidate.pop("_candidate")
    coded = ReferenceCase.model_validate(candidate)
    assert coded.outcome == "direct_invasion" and coded.resolved_on == RESOLVED
    assert coded.as_of == OPENED  # within 90 days of the outcome: the period's opening
    # Known by as_of: neither report (known 30 and 10 days ago, after the period opened).
    assert set(coded.indicators.values()) == {"unknown"}
    assert opened.get(f"/v1/cases/{CASE}/reference-case").json()["id"] == candidate["id"]


def test_the_resolution_record_is_append_only(opened: TestClient, database_url: str) -> None:
    resolve(opened)
    database = open_database(database_url)
    for statement in ("UPDATE resolutions SET outcome = 'no_entry'", "DELETE FROM resolutions"):
        with pytest.raises(DBAPIError, match="append-only"), database.begin() as connection:
            connection.execute(text(statement))
    database.dispose()
    assert opened.get(RESOLUTION).json()["resolution"]["outcome"] == "direct_invasion"


def test_each_day_is_scored_with_the_model_that_served_it(
    make_app: Callable[..., FastAPI], artifact_path: Path, database_url: str, tmp_path: Path
) -> None:
    """A fit during the case: the days the first model served are replayed with it (the
    artifact archive keeps it), the days before any forecast was served with the current one."""
    catalog = load_catalog()
    first = load_artifact(artifact_path, catalog, load_reference(catalog).fingerprint)
    path = tmp_path / "model" / "posterior.npz"
    save_artifact(first, path)
    half = ModelDraws(
        first.draws.theta[::2], first.draws.phi[::2], {k: v[::2] for k, v in first.draws.pi.items()}
    )
    sealed = ("artifact_id", "arrays_sha256", "format")
    second = make_artifact(half, {k: v for k, v in first.meta.items() if k not in sealed})
    case = BELARUS | {"opened_on": OPENED.isoformat()}
    served_from = dt.datetime.combine(today() - dt.timedelta(days=20), dt.time(12), dt.UTC)
    with TestClient(make_app(artifact_path=path)) as old:
        assert old.post("/v1/cases", json=case, headers=AUTH).status_code == 201
        reports = [report(30), report(10, indicator="pretext_claims")]
        assert old.post(REPORTS, json=reports, headers=AUTH).status_code == 201
        params = {"from": OPENED.isoformat(), "to": days_ago(6)}
        by_first = old.get(f"{FORECAST}/timeline", params=params).json()["points"]
    database = open_database(database_url)
    with database.begin() as connection:  # as if the first model had served it 20 days ago
        connection.execute(update(ForecastRow).values(recorded_at=served_from))
    database.dispose()
    save_artifact(second, path)  # a new fit; the first stays in the archive
    with TestClient(make_app(artifact_path=path)) as new:
        resolve(new)
        score = new.get(f"/v1/cases/{CASE}/score").json()
        by_second = new.get(f"{FORECAST}/timeline", params=params).json()["points"]
    # Days 40 to 21 ago: no forecast served yet, the current model; 20 to 6 ago: the first.
    assert score["models"] == {second.id: 20, first.id: 15} and score["notes"] == []
    replayed = [[p["mean"] for p in point["probabilities"]] for point in by_first]
    current = [[p["mean"] for p in point["probabilities"]] for point in by_second]
    daily = [[day["probabilities"][o] for o in OUTCOMES] for day in score["daily"]]
    assert daily == current[:20] + replayed[20:] and replayed[20:] != current[20:]
