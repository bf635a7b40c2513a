"""Bounded reads: a case's history, its reports and the cases come a page at a time, the next
page linked (RFC 8288) while there is more; the CSV export streams the whole history."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from app.api.pages import cursor_of
from app.forecasting import today
from app.store.tables import ForecastRow
from models.contract import PAGE_DEFAULT, PAGE_MAX

from ..service import AUTH, BELARUS, FORECAST, REPORTS, report, service_of

HISTORY = f"{FORECAST}/history"


def follow(client: TestClient, url: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Every item of a list by following its `Link: rel="next"`, and the pages it took."""
    items: list[dict[str, Any]] = []
    answer = client.get(url, params=params or None)  # {} would drop the query of a link
    pages = 1
    while True:
        assert answer.status_code == 200, answer.text
        items += answer.json()
        if "next" not in answer.links:
            return items, pages
        assert len(answer.json()) == params.get("limit", PAGE_DEFAULT)
        answer = client.get(answer.links["next"]["url"])
        pages += 1


def post_days(client: TestClient, days: list[int]) -> None:
    """One report observed each of these many days ago (each a new point of the history)."""
    for n, ago in enumerate(days):
        observed = (today() - dt.timedelta(days=ago)).isoformat()
        posted = client.post(
            REPORTS, json=report(observed_on=observed, source=f"s{n}"), headers=AUTH
        )
        assert posted.status_code == 201, posted.text


def test_history_pages_follow_their_links_in_order(case: TestClient) -> None:
    post_days(case, [3, 1, 2, 5, 4, 1, 6])
    whole = case.get(HISTORY, params={"limit": PAGE_MAX}).json()
    assert "link" not in case.get(HISTORY, params={"limit": PAGE_MAX}).headers
    assert [p["reports_used"] for p in whole] == list(range(1, 8))
    assert follow(case, HISTORY, limit=3) == (whole, 3)
    assert follow(case, HISTORY, limit=7) == (whole, 1)
    assert follow(case, HISTORY, limit=2, order="desc") == (whole[::-1], 4)


def test_a_point_recorded_between_pages_is_neither_skipped_nor_repeated(case: TestClient) -> None:
    post_days(case, [3, 2, 1])
    first = case.get(HISTORY, params={"limit": 2})
    post_days(case, [4])
    rest, _ = follow(case, first.links["next"]["url"])
    assert first.json() + rest == case.get(HISTORY).json()
    assert [p["reports_used"] for p in first.json() + rest] == [1, 2, 3, 4]


def test_reports_pages_keep_observation_order_and_filters(case: TestClient) -> None:
    post_days(case, [3, 1, 2, 5, 3, 1, 6, 3])
    whole = case.get(REPORTS).json()
    observed = [(r["observed_on"], r["id"]) for r in whole]
    assert observed == sorted(observed) and len(whole) == 8
    assert follow(case, REPORTS, limit=3) == (whole, 3)
    assert follow(case, REPORTS, limit=3, order="desc") == (whole[::-1], 3)
    since = (today() - dt.timedelta(days=3)).isoformat()
    recent = [r for r in whole if r["observed_on"] >= since]
    assert follow(case, REPORTS, limit=2, since=since) == (recent, 3)


def test_cases_come_a_page_at_a_time_in_id_order(client: TestClient) -> None:
    ids = ["c-3", "a-1", "b-2", "e-5", "d-4"]
    for case_id in ids:
        assert (
            client.post("/v1/cases", json=BELARUS | {"id": case_id}, headers=AUTH).status_code
            == 201
        )
    listed, pages = follow(client, "/v1/cases", limit=2)
    assert [case["id"] for case in listed] == sorted(ids) and pages == 3


@pytest.mark.usefixtures("case")
@pytest.mark.parametrize(
    ("url", "params", "where"),
    [
        (HISTORY, {"limit": 0}, "limit"),
        (HISTORY, {"limit": PAGE_MAX + 1}, "limit"),
        (HISTORY, {"order": "sideways"}, "order"),
        (HISTORY, {"cursor": "%%%"}, "cursor"),
        (HISTORY, {"cursor": "x" * 401}, "cursor"),
        (HISTORY, {"cursor": cursor_of(("2022-07-01", 4))}, "cursor"),  # a report list's
        (HISTORY, {"cursor": cursor_of((2**31,))}, "cursor"),  # beyond the id column
        (HISTORY, {"cursor": cursor_of((True,))}, "cursor"),
        (REPORTS, {"cursor": cursor_of(("2022-13-01", 4))}, "cursor"),
        (REPORTS, {"cursor": cursor_of((4,))}, "cursor"),
        ("/v1/cases", {"cursor": cursor_of(("a\x00b",))}, "cursor"),  # PostgreSQL would refuse
        ("/v1/cases", {"cursor": cursor_of(("Not An Id",))}, "cursor"),
    ],
)
def test_a_bad_page_is_refused_naming_the_parameter(
    client: TestClient, url: str, params: dict[str, Any], where: str
) -> None:
    answer = client.get(url, params=params or None)  # {} would drop the query of a link
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["query", where]


def test_the_csv_export_streams_the_whole_history(case: TestClient) -> None:
    post_days(case, [1])
    database = service_of(case).database
    with database.begin() as connection:
        stored = connection.execute(select(ForecastRow).limit(1)).mappings().one()
        point = json.loads(stored["point"])
        rows = []
        for n in range(2500):  # more than one batch of the export
            at = dt.datetime(2023, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=n)
            point["recorded_at"] = at.isoformat()
            rows.append(
                {key: stored[key] for key in ("case_id", "as_of", "artifact_id", "reports_hash")}
                | {"recorded_at": at, "point": json.dumps(point)}
            )
        connection.execute(insert(ForecastRow), rows)
    answer = case.get(HISTORY, headers={"Accept": "text/csv"})
    assert answer.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(table) == 2501 and table[1]["recorded_at"] == "2023-01-01T00:00:00+00:00"
    assert [row["recorded_at"] for row in table[1:]] == sorted(
        row["recorded_at"] for row in table[1:]
    )
    assert (
        case.get("/v1/cases/nowhere/forecast/history", headers={"Accept": "text/csv"}).status_code
        == 404
    )
