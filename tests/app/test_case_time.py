"""A case in its own time, through the API on SQLite and PostgreSQL: two times per report,
a case's clock and period, the timeline and what moved the forecast."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from app.store.db import open_database
from app.store.tables import ForecastRow
from models.artifact import archived, load_artifact, make_artifact, save_artifact
from models.catalog import load_catalog
from models.draws import ModelDraws
from models.reference import load_reference
from models.timeline import end_of

from ..service import AUTH, BELARUS, CASE, FORECAST, REPORTS

CATALOG = load_catalog()
OPENED = dt.date(2022, 2, 24)
HISTORICAL = BELARUS | {"opened_on": OPENED.isoformat()}


def report(**change: Any) -> dict[str, Any]:
    base = {
        "indicator": "covert_mobilization",
        "value": "present",
        "observed_on": "2022-07-01",
        "known_at": "2022-07-02T08:00:00Z",
        "source": "Ukrainian military intelligence, via media",
        "grade": "C",
    }
    return base | change


@pytest.fixture
def historical(client: TestClient) -> TestClient:
    """A client whose store holds the Belarus case, open from the war's start (no reports)."""
    assert client.post("/v1/cases", json=HISTORICAL, headers=AUTH).status_code == 201
    return client


def post(client: TestClient, *reports: dict[str, Any], path: str = REPORTS) -> dict[str, Any]:
    response = client.post(path, json=list(reports), headers=AUTH)
    assert response.status_code == 201, response.text
    return dict(response.json())


def means(forecast: dict[str, Any]) -> dict[str, float]:
    return {p["outcome"]: p["mean"] for p in forecast["probabilities"]}


def test_as_of_uses_the_reports_known_then_and_says_how_many_it_left_out(
    historical: TestClient,
) -> None:
    post(historical, report(), report(indicator="troop_shortfall", known_at="2022-07-10"))
    before = historical.get(FORECAST, params={"as_of": "2022-07-01"}).json()
    assert (before["reports_used"], before["reports_left_out"]) == (0, 2)
    middle = historical.get(FORECAST, params={"as_of": "2022-07-02"}).json()
    assert (middle["reports_used"], middle["reports_left_out"]) == (1, 1)
    after = historical.get(FORECAST, params={"as_of": "2022-07-10"}).json()
    assert (after["reports_used"], after["reports_left_out"]) == (2, 0)
    stored = historical.get(REPORTS).json()
    assert [r["known_at"] for r in stored] == ["2022-07-02T08:00:00Z", "2022-07-10T00:00:00Z"]


def test_a_report_without_known_at_is_known_when_posted(historical: TestClient) -> None:
    posted = post(historical, report(known_at=None))
    [stored] = posted["reports"]
    assert stored["known_at"] == stored["received_at"]
    replay = historical.get(FORECAST, params={"as_of": "2022-07-19"}).json()
    assert (replay["reports_used"], replay["reports_left_out"]) == (0, 1)


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({"known_at": "2999-01-01T00:00:00Z"}, "known_at", "in the future"),
        ({"known_at": "2022-06-30T23:00:00Z"}, "known_at", "before the report was observed"),
        ({"known_at": "2022-07-02T08:00:00"}, "known_at", "offset"),
        ({"known_at": 1658188800}, "known_at", "written as text"),
        ({"observed_on": "2022-02-23", "known_at": "2022-02-23"}, "observed_on", "period"),
    ],
)
def test_impossible_times_are_refused_naming_the_field(
    historical: TestClient, change: dict[str, Any], field: str, reason: str
) -> None:
    response = historical.post(REPORTS, json=[report(), report(**change)], headers=AUTH)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]  # a body that is neither one report nor a list of them
    assert any(field in str(e["loc"]) and reason in e["msg"] for e in errors), errors
    assert historical.get(REPORTS).json() == []


def test_reports_may_go_back_to_the_case_period_however_old(client: TestClient) -> None:
    old = BELARUS | {"id": "cold-war", "opened_on": "1961-01-01"}
    assert client.post("/v1/cases", json=old, headers=AUTH).status_code == 201
    path = "/v1/cases/cold-war/reports"
    posted = post(client, report(observed_on="1961-08-13", known_at="1961-08-13"), path=path)
    assert posted["reports"][0]["observed_on"] == "1961-08-13"
    response = client.post(path, json=report(observed_on="1960-12-31"), headers=AUTH)
    assert response.status_code == 422
    assert "opens on 1961-01-01" in response.json()["detail"][0]["msg"]


def test_a_retry_repeats_known_at_or_leaves_it_out(historical: TestClient) -> None:
    first = post(historical, report(known_at=None, idempotency_key="k-1"))["reports"][0]
    again = post(historical, report(known_at=None, idempotency_key="k-1"))["reports"][0]
    assert again == first
    moved = report(known_at="2022-07-03T00:00:00Z", idempotency_key="k-1")
    assert historical.post(REPORTS, json=moved, headers=AUTH).status_code == 409
    dated = report(known_at="2022-07-03T10:00:00+02:00", idempotency_key="k-2")
    stored = post(historical, dated)["reports"][0]
    assert stored["known_at"] == "2022-07-03T08:00:00Z"
    same = report(known_at="2022-07-03T08:00:00Z", idempotency_key="k-2")  # the same moment
    assert post(historical, same)["reports"][0] == stored


def test_a_historical_case_is_seen_at_its_clock(historical: TestClient) -> None:
    clock = historical.put(f"/v1/cases/{CASE}/clock", json={"clock": "2022-07-19"}, headers=AUTH)
    assert clock.status_code == 200, clock.text
    assert clock.json()["as_of"] == "2022-07-19"
    assert historical.get(f"/v1/cases/{CASE}").json()["status"] == "historical"
    # Known after the clock: stored, left out of the case's "now".
    later = post(historical, report(known_at=None))["forecast"]
    assert (later["as_of"], later["reports_used"], later["reports_left_out"]) == (
        "2022-07-19",
        0,
        1,
    )
    known = post(historical, report(indicator="troop_shortfall"))["forecast"]
    assert (known["reports_used"], known["reports_left_out"]) == (1, 1)
    polled = historical.get(FORECAST)
    assert polled.json() == known and polled.headers["ETag"]
    live = historical.put(f"/v1/cases/{CASE}/clock", json={"clock": None}, headers=AUTH).json()
    assert live["as_of"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert (live["reports_used"], live["reports_left_out"]) == (2, 0)


@pytest.mark.parametrize(
    ("body", "reason"),
    [({"clock": "2022-01-01"}, "before the case's period"), ({"clock": "2999-01-01"}, "future")],
)
def test_a_clock_outside_the_case_period_is_refused(
    historical: TestClient, body: dict[str, Any], reason: str
) -> None:
    response = historical.put(f"/v1/cases/{CASE}/clock", json=body, headers=AUTH)
    assert response.status_code == 422 and reason in response.json()["detail"][0]["msg"]
    assert historical.get(f"/v1/cases/{CASE}").json()["clock"] is None


def test_a_retraction_counts_from_when_it_was_made(historical: TestClient) -> None:
    [stored] = post(historical, report())["reports"]
    path = f"{REPORTS}/{stored['id']}"
    early = historical.delete(path, params={"retracted_at": "2022-07-01T00:00:00Z"}, headers=AUTH)
    assert early.status_code == 422 and "before the report was known" in early.text
    done = historical.delete(path, params={"retracted_at": "2022-07-05T00:00:00Z"}, headers=AUTH)
    assert done.status_code == 200 and done.json()["retracted_at"] == "2022-07-05T00:00:00Z"
    assert historical.get(FORECAST, params={"as_of": "2022-07-04"}).json()["reports_used"] == 1
    assert historical.get(FORECAST, params={"as_of": "2022-07-05"}).json()["reports_used"] == 0


# -- as-of replay == a fresh case built from the reports known then ---------------------------

START = dt.date(2022, 6, 1)
fresh_ids = (f"fresh-{n}" for n in itertools.count())


@st.composite
def stored_reports(draw: st.DrawFn) -> dict[str, Any]:
    observed = START + dt.timedelta(days=draw(st.integers(0, 40)))
    known = dt.datetime.combine(observed, dt.time(), dt.UTC)
    known += dt.timedelta(hours=draw(st.integers(0, 24 * 15)))
    retracted = draw(st.one_of(st.none(), st.integers(0, 24 * 20)))
    return {
        "indicator": draw(st.sampled_from(CATALOG.ids)),
        "value": draw(st.sampled_from([0.0, 1.0, 0.25])),
        "observed_on": observed.isoformat(),
        "known_at": known.isoformat(),
        "source": "property test",
        "grade": draw(st.sampled_from("ABCDEF")),
        "retracted_at": None if retracted is None else known + dt.timedelta(hours=retracted),
    }


def build_case(client: TestClient, reports: list[dict[str, Any]]) -> str:
    """A new case holding `reports`, retracted when each says; its id."""
    case_id = next(fresh_ids)
    body = BELARUS | {"id": case_id, "opened_on": OPENED.isoformat()}
    assert client.post("/v1/cases", json=body, headers=AUTH).status_code == 201
    if not reports:
        return case_id
    path = f"/v1/cases/{case_id}/reports"
    bodies = [{k: v for k, v in r.items() if k != "retracted_at"} for r in reports]
    stored = post(client, *bodies, path=path)["reports"]
    for row, sent in zip(stored, reports, strict=True):
        if sent["retracted_at"] is not None:
            at = {"retracted_at": sent["retracted_at"].isoformat()}
            assert client.delete(f"{path}/{row['id']}", params=at, headers=AUTH).status_code == 200
    return case_id


def replay(client: TestClient, case_id: str, day: dt.date) -> dict[str, Any]:
    response = client.get(f"/v1/cases/{case_id}/forecast", params={"as_of": day.isoformat()})
    assert response.status_code == 200, response.text
    return dict(response.json())


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    reports=st.lists(stored_reports(), max_size=12),
    day=st.integers(0, 60).map(lambda n: START + dt.timedelta(days=n)),
)
def test_an_as_of_replay_is_a_fresh_case_of_the_reports_known_then(
    client: TestClient, reports: list[dict[str, Any]], day: dt.date
) -> None:
    end = end_of(day)
    known = [r for r in reports if dt.datetime.fromisoformat(r["known_at"]) < end]
    standing = [
        r | {"retracted_at": None}
        for r in known
        if r["retracted_at"] is None or r["retracted_at"] >= end
    ]
    everything = replay(client, build_case(client, reports), day)
    fresh = replay(client, build_case(client, standing), day)
    later = sum(r["retracted_at"] is None for r in reports) - sum(
        r["retracted_at"] is None for r in known
    )
    assert everything["reports_left_out"] == later and fresh["reports_left_out"] == 0
    for field in ("case_id", "reports_left_out"):
        del everything[field], fresh[field]
    assert everything == fresh


# -- the timeline and what moved the forecast ---------------------------------------------------


def test_the_timeline_is_the_as_of_replays_day_by_day(historical: TestClient) -> None:
    post(
        historical,
        report(),
        report(indicator="troop_shortfall", observed_on="2022-07-03", known_at="2022-07-05"),
    )
    params = {"from": "2022-06-30", "to": "2022-07-06", "step": 2}
    response = historical.get(f"{FORECAST}/timeline", params=params)
    assert response.status_code == 200, response.text
    timeline = response.json()
    days = [point["as_of"] for point in timeline["points"]]
    assert days == ["2022-06-30", "2022-07-02", "2022-07-04", "2022-07-06"]
    for point in timeline["points"]:
        served = historical.get(FORECAST, params={"as_of": point["as_of"]}).json()
        assert point["probabilities"] == served["probabilities"]
        assert point["evidence_hash"] == served["evidence_hash"]
        assert point["reports_used"] == served["reports_used"]
    assert [r["known_at"] for r in timeline["reports"]] == [
        "2022-07-02T08:00:00Z",
        "2022-07-05T00:00:00Z",
    ]
    again = historical.get(
        f"{FORECAST}/timeline", params=params, headers={"If-None-Match": response.headers["ETag"]}
    )
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2022-07-06", "to": "2022-07-01"}, "from"),
        ({"from": "2019-01-01", "to": "2022-07-01"}, "step"),
        ({"to": "2999-01-01"}, "to"),
        ({"step": 0}, "step"),
    ],
)
def test_a_timeline_out_of_bounds_is_refused(
    historical: TestClient, params: dict[str, Any], field: str
) -> None:
    response = historical.get(f"{FORECAST}/timeline", params=params)
    assert response.status_code == 422 and field in str(response.json()["detail"][0]["loc"])


def test_what_moved_the_forecast_sums_to_the_change(historical: TestClient) -> None:
    reports = post(
        historical,
        report(),
        report(indicator="public_opposition", observed_on="2022-07-08", known_at="2022-07-09"),
        report(indicator="pretext_claims", observed_on="2022-07-10", known_at="2022-07-12"),
        report(indicator="rhetoric_shift", observed_on="2022-07-02", known_at="2022-07-03"),
    )["reports"]
    retracted = {"retracted_at": "2022-07-15T00:00:00Z"}
    path = f"{REPORTS}/{reports[0]['id']}"
    assert historical.delete(path, params=retracted, headers=AUTH).status_code == 200
    response = historical.get(
        f"{FORECAST}/changes", params={"from": "2022-07-05", "to": "2022-07-19"}
    )
    assert response.status_code == 200, response.text
    changes = response.json()
    kinds = [(part["kind"], part["report"] and part["report"]["id"]) for part in changes["parts"]]
    assert kinds == [
        ("retracted", reports[0]["id"]),
        ("ageing", None),
        ("added", reports[1]["id"]),
        ("added", reports[2]["id"]),
    ]
    start = means({"probabilities": changes["start_forecast"]})
    end = means({"probabilities": changes["end_forecast"]})
    for outcome, total in changes["total"].items():
        assert total == pytest.approx(end[outcome] - start[outcome], abs=1e-12)
        parts = sum(part["change"][outcome] for part in changes["parts"])
        assert parts == pytest.approx(total, abs=1e-12)
    assert end == means(historical.get(FORECAST, params={"as_of": "2022-07-19"}).json())
    headline = changes["headline"]
    assert headline["change"] == changes["total"][headline["outcome"]]
    opposition = changes["parts"][2]["change"]  # the ageing part is of the rhetoric shift
    assert opposition["no_entry"] > 0 > opposition["direct_invasion"]


def test_a_new_model_is_a_part_of_the_change_it_made(
    make_app: Callable[..., FastAPI], artifact_path: Path, database_url: str, tmp_path: Path
) -> None:
    """A fit between the two dates: the start is replayed with the model that served it (kept
    in the artifact archive), and the new model's effect is a part of its own."""
    catalog = load_catalog()
    first = load_artifact(artifact_path, catalog, load_reference(catalog).fingerprint)
    path = tmp_path / "model" / "posterior.npz"
    save_artifact(first, path)
    half = ModelDraws(
        first.draws.theta[::2],
        first.draws.phi[::2],
        {kind: pi[::2] for kind, pi in first.draws.pi.items()},
    )
    sealed = ("artifact_id", "arrays_sha256", "format")
    second = make_artifact(half, {k: v for k, v in first.meta.items() if k not in sealed})
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    live = BELARUS | {"opened_on": OPENED.isoformat()}
    with TestClient(make_app(artifact_path=path)) as old:
        assert old.post("/v1/cases", json=live, headers=AUTH).status_code == 201
        post(old, report(observed_on=yesterday.isoformat(), known_at=yesterday.isoformat()))
        served = old.get(FORECAST, params={"as_of": yesterday.isoformat()}).json()
    database = open_database(database_url)
    with database.begin() as connection:  # as if that forecast had been served yesterday
        noon = dt.datetime.combine(yesterday, dt.time(12), dt.UTC)
        connection.execute(update(ForecastRow).values(recorded_at=noon))
    database.dispose()
    save_artifact(second, path)  # a new fit; the first stays in the archive
    since = {"from": yesterday.isoformat()}

    with TestClient(make_app(artifact_path=path)) as new:
        today = dt.datetime.now(dt.UTC).date().isoformat()
        post(new, report(indicator="troop_shortfall", observed_on=today, known_at=None))
        changes = new.get(f"{FORECAST}/changes", params=since).json()
    assert (changes["start_artifact_id"], changes["artifact_id"]) == (first.id, second.id)
    assert [part["kind"] for part in changes["parts"]] == ["model", "ageing", "added"]
    assert changes["start_forecast"] == served["probabilities"] and changes["notes"] == []
    for outcome, total in changes["total"].items():
        parts = sum(part["change"][outcome] for part in changes["parts"])
        assert parts == pytest.approx(total, abs=1e-12)

    archived(path, first.id).unlink()  # the old model lost: said, and the new one used
    with TestClient(make_app(artifact_path=path)) as new:
        changes = new.get(f"{FORECAST}/changes", params=since).json()
    assert changes["start_artifact_id"] == second.id
    assert [part["kind"] for part in changes["parts"]] == ["ageing", "added"]
    [note] = changes["notes"]
    assert first.id in note and "cannot be replayed" in note


def test_a_what_if_on_a_historical_case_is_as_of_its_clock(historical: TestClient) -> None:
    assert historical.put(f"/v1/cases/{CASE}/clock", json={"clock": "2022-07-19"}, headers=AUTH)
    path = f"/v1/cases/{CASE}/what-if"
    seen = historical.post(path, json={"reports": [report(known_at=None)]}).json()
    assert (seen["as_of"], seen["reports_used"]) == ("2022-07-19", 1)
    later = historical.post(
        path, json={"reports": [report(observed_on="2022-07-20", known_at=None)]}
    )
    assert later.status_code == 422
    [error] = later.json()["detail"]
    assert error["loc"][-1] == "observed_on" and "after as-of 2022-07-19" in error["msg"]
