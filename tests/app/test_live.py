"""The live forecast kept up to date by writes agrees with one rebuilt from the stored reports,
on SQLite and PostgreSQL, however the writes arrive (one by one, in batches, concurrently)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.forecasting import today
from app.store.tables import LiveForecastRow

from ..service import AUTH, CASE, FORECAST, REPORTS, report, service_of


def assert_live_matches_replay(client: TestClient) -> dict[str, Any]:
    """The live forecast and a replay of today (rebuilt from every stored report) agree: same
    ETag, same evidence hash, same probabilities up to the rounding of the kept sums."""
    live = client.get(FORECAST)
    replay = client.get(FORECAST, params={"as_of": today().isoformat()})
    assert live.status_code == replay.status_code == 200
    assert live.headers["etag"] == replay.headers["etag"]
    ours, theirs = live.json(), replay.json()
    for key in ("evidence_hash", "reports_used", "as_of", "artifact_id"):
        assert ours[key] == theirs[key], key
    for mine, other in zip(ours["probabilities"], theirs["probabilities"], strict=True):
        assert mine["mean"] == pytest.approx(other["mean"], abs=1e-9)
    return dict(ours)


def test_writes_keep_the_live_forecast_equal_to_a_rebuild(case: TestClient) -> None:
    case.post(REPORTS, json=report(), headers=AUTH)
    batch = [report(indicator="troop_shortfall", grade="B"), report(value=0.3, grade="F")]
    case.post(REPORTS, json=batch, headers=AUTH)
    keyed = report(indicator="pretext_claims", idempotency_key="feed-7")
    posted = case.post(REPORTS, json=keyed, headers=AUTH).json()
    case.post(REPORTS, json=keyed, headers=AUTH)  # a retry: stores nothing
    assert assert_live_matches_replay(case)["reports_used"] == 4
    case.delete(f"{REPORTS}/{posted['reports'][0]['id']}", headers=AUTH)
    assert assert_live_matches_replay(case)["reports_used"] == 3


def test_a_new_day_rebuilds_the_evidence(case: TestClient) -> None:
    """Reports age overnight: yesterday's sums are not reused, whatever they hold."""
    case.post(REPORTS, json=[report(), report(indicator="rhetoric_shift")], headers=AUTH)
    database = service_of(case).database
    with database.begin() as connection:
        connection.execute(
            update(LiveForecastRow)
            .where(LiveForecastRow.case_id == CASE)
            .values(evidence_on=today() - dt.timedelta(days=1), log_likelihoods={})
        )
    assert assert_live_matches_replay(case)["reports_used"] == 2
    posted = case.post(REPORTS, json=report(indicator="target_border_fortification"), headers=AUTH)
    assert posted.status_code == 201
    assert assert_live_matches_replay(case)["reports_used"] == 3


def test_concurrent_posts_are_each_stored_and_counted_once(case: TestClient) -> None:
    def post(number: int) -> int:
        body = report(grade="ABCDEF"[number % 6], idempotency_key=f"k{number % 30}")
        response = case.post(REPORTS, json=body, headers=AUTH)
        assert response.status_code == 201, response.text
        forecast = response.json()["forecast"]
        assert forecast["reports_used"] >= 1  # the answer's forecast includes its report
        return int(response.json()["reports"][0]["id"])

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(post, range(60)))
    assert len(set(ids)) == 30  # each key stored once; its retries answered with it
    assert len(case.get(REPORTS).json()) == 30
    assert assert_live_matches_replay(case)["reports_used"] == 30
