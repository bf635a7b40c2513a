"""Reports and forecasts through the API, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.forecasting import today
from models.catalog import load_catalog

from ..service import AUTH, BELARUS, CASE, FORECAST, REPORTS, report


def test_post_one_report_returns_the_updated_forecast(case: TestClient) -> None:
    before = case.get(FORECAST).json()
    posted = case.post(REPORTS, json=report(), headers=AUTH)
    assert posted.status_code == 201, posted.text
    body = posted.json()
    assert [r["indicator"] for r in body["reports"]] == ["covert_mobilization"]
    after = body["forecast"]
    assert after["reports_used"] == 1 and before["reports_used"] == 0
    mean = {p["outcome"]: p["mean"] for p in after["probabilities"]}
    prior = {p["outcome"]: p["mean"] for p in before["probabilities"]}
    assert mean["direct_invasion"] > prior["direct_invasion"]
    assert sum(mean.values()) == pytest.approx(1.0)
    assert all(p["words"] for p in after["probabilities"])
    assert after["contributions"][0]["indicator"] == "covert_mobilization"
    assert len(after["value_of_information"]) == len(load_catalog().ids) - 1


def test_a_batch_is_stored_whole(case: TestClient) -> None:
    batch = [report(), report(indicator="troop_shortfall", grade="B"), report(value=0.3)]
    posted = case.post(REPORTS, json=batch, headers=AUTH)
    assert posted.status_code == 201
    assert posted.json()["forecast"]["reports_used"] == 3
    assert len(case.get(REPORTS).json()) == 3


def test_a_retried_post_stores_nothing_twice(case: TestClient) -> None:
    first = case.post(REPORTS, json=report(idempotency_key="feed-42"), headers=AUTH).json()
    again = case.post(REPORTS, json=report(idempotency_key="feed-42"), headers=AUTH).json()
    assert again["reports"][0]["id"] == first["reports"][0]["id"]
    assert len(case.get(REPORTS).json()) == 1


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"indicator": "covert_mobilisation"}, "indicator", "did you mean 'covert_mobilization'"),
        ({"grade": "G"}, "grade", ""),
        ({"value": 1.5}, "value", ""),
        ({"value": float("nan")}, "value", ""),
        ({"value": "maybe"}, "value", ""),
        (
            {"observed_on": (today() + dt.timedelta(days=2)).isoformat()},
            "observed_on",
            "after as-of",
        ),
        ({"observed_on": "1900-01-01"}, "observed_on", "before the case's period"),
        ({"observed_on": "2022-02-30"}, "observed_on", ""),
        ({"source": ""}, "source", ""),
        ({"colour": "red"}, "colour", ""),
    ],
)
def test_bad_reports_are_refused_naming_the_field(
    case: TestClient, change: dict[str, Any], field: str, reason: str
) -> None:
    good = report()
    content = json.dumps([good, report(**change)], allow_nan=True)
    response = case.post(
        REPORTS, content=content, headers=AUTH | {"Content-Type": "application/json"}
    )
    assert response.status_code == 422, response.text
    detail = json.dumps(response.json()["detail"])
    assert field in detail and reason in detail
    assert case.get(REPORTS).json() == []  # nothing stored, not even the good one


@pytest.mark.parametrize("batch", [[], [report()] * 501])
def test_empty_or_oversized_batches_are_refused(case: TestClient, batch: list[Any]) -> None:
    response = case.post(REPORTS, json=batch, headers=AUTH)
    assert response.status_code == 422 and "between 1 and 500" in response.text
    assert case.get(REPORTS).json() == []


def test_reports_on_an_unknown_case_are_404(case: TestClient) -> None:
    response = case.post("/v1/cases/nowhere/reports", json=report(), headers=AUTH)
    assert response.status_code == 404
    assert case.get("/v1/cases/nowhere/forecast").status_code == 404


def test_reports_need_the_token(case: TestClient) -> None:
    assert case.post(REPORTS, json=report()).status_code == 401
    assert case.get(REPORTS).json() == []


def test_list_filters(case: TestClient) -> None:
    old = (today() - dt.timedelta(days=40)).isoformat()
    case.post(
        REPORTS, json=[report(observed_on=old), report(indicator="troop_shortfall")], headers=AUTH
    )
    assert len(case.get(REPORTS, params={"indicator": "troop_shortfall"}).json()) == 1
    since = (today() - dt.timedelta(days=10)).isoformat()
    assert len(case.get(REPORTS, params={"since": since}).json()) == 1
    typo = case.get(REPORTS, params={"indicator": "troop_shortfal"})
    assert typo.status_code == 422 and "did you mean 'troop_shortfall'" in typo.text


def test_retracting_keeps_the_audit_trail(case: TestClient) -> None:
    posted = case.post(REPORTS, json=report(), headers=AUTH).json()
    report_id = posted["reports"][0]["id"]
    assert case.delete(f"{REPORTS}/{report_id}").status_code == 401
    retracted = case.delete(f"{REPORTS}/{report_id}", headers=AUTH)
    assert retracted.status_code == 200 and retracted.json()["retracted_at"]
    assert case.get(FORECAST).json()["reports_used"] == 0
    assert case.get(REPORTS).json()[0]["retracted_at"]
    assert case.delete(f"{REPORTS}/999999", headers=AUTH).status_code == 404


def test_polling_with_etag_gives_304_until_the_evidence_changes(case: TestClient) -> None:
    first = case.get(FORECAST)
    tag = first.headers["etag"]
    assert tag.startswith('"') and first.headers["cache-control"] == "no-cache"
    unchanged = case.get(FORECAST, headers={"If-None-Match": tag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    case.post(REPORTS, json=report(), headers=AUTH)
    changed = case.get(FORECAST, headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag


def test_as_of_replays_only_what_was_known(case: TestClient) -> None:
    case.post(REPORTS, json=report(), headers=AUTH)
    yesterday = (today() - dt.timedelta(days=1)).isoformat()
    replay = case.get(FORECAST, params={"as_of": yesterday}).json()
    assert replay["reports_used"] == 0 and replay["as_of"] == yesterday  # received today
    assert case.get(FORECAST).json()["reports_used"] == 1
    future = case.get(FORECAST, params={"as_of": (today() + dt.timedelta(days=1)).isoformat()})
    assert future.status_code == 422 and "as_of" in future.text


def test_history_has_a_point_per_change_of_evidence(case: TestClient) -> None:
    case.get(FORECAST)  # no reports yet: the first point
    case.get(FORECAST)  # nothing changed: no new point
    posted = case.post(REPORTS, json=report(), headers=AUTH).json()
    case.get(FORECAST, params={"as_of": (today() - dt.timedelta(days=1)).isoformat()})  # replay
    case.delete(f"{REPORTS}/{posted['reports'][0]['id']}", headers=AUTH)  # back to no reports
    points = case.get(f"{FORECAST}/history").json()
    assert [p["reports_used"] for p in points] == [0, 1, 0]
    assert all(p["artifact_id"].startswith("m-") and len(p["probabilities"]) == 3 for p in points)
    text = case.get(f"{FORECAST}/history", headers={"Accept": "text/csv"})
    assert text.headers["content-type"].startswith("text/csv")
    rows = text.text.strip().splitlines()
    assert rows[0].startswith("recorded_at,as_of,artifact_id,reports_used,no_entry_mean")
    assert len(rows) == 4
    assert case.get("/v1/cases/nowhere/forecast/history").status_code == 404


def test_wrong_content_type_is_415_and_stores_nothing(case: TestClient) -> None:
    body = json.dumps(report())
    response = case.post(REPORTS, content=body, headers=AUTH | {"Content-Type": "text/plain"})
    assert response.status_code == 415 and "application/json" in response.text
    assert case.get(REPORTS).json() == []


def test_oversized_body_is_413_and_stores_nothing(case: TestClient) -> None:
    huge = json.dumps([report(note="x" * 10_000)] * 300)  # ~3 MB
    response = case.post(REPORTS, content=huge, headers=AUTH | {"Content-Type": "application/json"})
    assert response.status_code == 413 and "body" in response.text

    def chunks() -> Iterator[bytes]:  # streamed, with no Content-Length to go by
        for start in range(0, len(huge), 65536):
            yield huge[start : start + 65536].encode()

    streamed = case.post(
        REPORTS, content=chunks(), headers=AUTH | {"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert case.get(REPORTS).json() == []


def test_reads_can_require_the_token(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(read_token_required=True)) as client:
        assert client.get("/v1/cases").status_code == 401
        assert client.get("/v1/cases", headers=AUTH).status_code == 200
        assert (
            client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
        )
        # A POST of reports skips the readers' check: the writer's check of its key covers it.
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        assert client.post(REPORTS, json=report()).status_code == 401
        wrong = {"Authorization": "Bearer not-a-key"}
        assert client.post(REPORTS, json=report(), headers=wrong).status_code == 401
        assert client.post(REPORTS, json=report(), headers=AUTH).status_code == 201
        assert len(client.get(REPORTS, headers=AUTH).json()) == 1


def test_every_forecast_names_its_prior_and_how_base_rates_move_it(case: TestClient) -> None:
    forecast = case.get(FORECAST).json()
    assert forecast["prior"]["kind"] == "join_war" and forecast["prior"]["source"] == "catalog"
    assert set(forecast["prior"]["pseudo_counts"]) == {"no_entry", "false_flag", "direct_invasion"}
    assert len(forecast["base_rates"]) == 6
    invasion = [row for row in forecast["base_rates"] if row["outcome"] == "direct_invasion"]
    low, high = sorted(invasion, key=lambda row: row["base_rate"])
    assert low["probabilities"]["direct_invasion"] < high["probabilities"]["direct_invasion"]
    assert forecast["evidence_ratios"] == {
        "no_entry": 1.0,
        "false_flag": 1.0,
        "direct_invasion": 1.0,
    }


def test_an_analysts_prior_is_used_named_and_can_be_withdrawn(case: TestClient) -> None:
    case.post(REPORTS, json=report(), headers=AUTH)
    before = case.get(FORECAST)
    fixed = {"no_entry": 0.97, "false_flag": 0.01, "direct_invasion": 0.02}
    assert case.put(f"/v1/cases/{CASE}/prior", json={"outcome_prior": fixed}).status_code == 401
    changed = case.put(f"/v1/cases/{CASE}/prior", json={"outcome_prior": fixed}, headers=AUTH)
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["prior"]["source"] == "case" and body["prior"]["pseudo_counts"] is None
    assert body["prior"]["probabilities"] == pytest.approx(fixed)
    served = case.get(FORECAST)
    assert served.json() == body and served.headers["etag"] == changed.headers["etag"]
    assert served.headers["etag"] != before.headers["etag"]
    mean = {p["outcome"]: p["mean"] for p in body["probabilities"]}
    old = {p["outcome"]: p["mean"] for p in before.json()["probabilities"]}
    assert mean["direct_invasion"] < old["direct_invasion"]
    bad = case.put(
        f"/v1/cases/{CASE}/prior", json={"outcome_prior": fixed | {"no_entry": 0.5}}, headers=AUTH
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "outcome_prior"]
    assert case.get(FORECAST).json() == body  # refused: nothing changed
    back = case.put(f"/v1/cases/{CASE}/prior", json={"outcome_prior": None}, headers=AUTH)
    assert back.json() == before.json() and back.headers["etag"] == before.headers["etag"]
    points = case.get(f"{FORECAST}/history").json()
    assert [p["reports_used"] for p in points][-3:] == [1, 1, 1]  # one per prior


def test_a_retraction_restores_the_forecast_exactly(case: TestClient) -> None:
    case.post(
        REPORTS, json=[report(), report(indicator="troop_shortfall", grade="B")], headers=AUTH
    )
    before = case.get(FORECAST)
    posted = case.post(REPORTS, json=report(indicator="pretext_claims", value=0.7), headers=AUTH)
    assert posted.json()["forecast"] != before.json()
    case.delete(f"{REPORTS}/{posted.json()['reports'][0]['id']}", headers=AUTH)
    after = case.get(FORECAST)
    assert after.content == before.content
    assert after.headers["etag"] == before.headers["etag"]


def test_a_start_war_case_takes_no_evidence_from_patron_signs(client: TestClient) -> None:
    alone = BELARUS | {"id": "alone", "patron": None}
    assert client.post("/v1/cases", json=alone, headers=AUTH).status_code == 201
    prior = client.get("/v1/cases/alone/forecast").json()
    assert prior["prior"]["kind"] == "start_war"
    posted = client.post(
        "/v1/cases/alone/reports", json=report(indicator="patron_pressure_to_enter"), headers=AUTH
    ).json()["forecast"]
    assert posted["probabilities"] == prior["probabilities"] and posted["reports_used"] == 1
    assert posted["contributions"] == []
