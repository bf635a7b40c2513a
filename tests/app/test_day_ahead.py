"""Tomorrow's forecasts prepared before UTC midnight (`app.day_ahead`): what is prepared is what
a rebuild at midnight would serve, to the byte; a write after it makes it stale; after midnight
polls serve it and it is made live without reading a report; and no write rebuilds a stale
forecast in the writer thread. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select, update

from app import alerts, live
from app.alerts import ForecastChange
from app.day_ahead import DayAhead
from app.forecasting import today
from app.live import Served
from app.store import reports as store
from app.store.tables import LiveForecastRow, NextForecastRow

from ..service import AUTH, BELARUS, CASE, FORECAST, REPORTS, report, service_of

TOMORROW = today() + dt.timedelta(days=1)
BEFORE_MIDNIGHT = dt.datetime.combine(today(), dt.time(23, 0), dt.UTC)
AFTER_MIDNIGHT = dt.datetime.combine(TOMORROW, dt.time(0, 5), dt.UTC)


@pytest.fixture
def watched(case: TestClient) -> TestClient:
    """The case with two reports and its live forecast for today."""
    body = [report(), report(indicator="rhetoric_shift", value=0.7, grade="B")]
    assert case.post(REPORTS, json=body, headers=AUTH).status_code == 201
    return case


def day_ahead(client: TestClient) -> DayAhead:
    service = service_of(client)
    return DayAhead(service.sessions, service.model())


def served_on(client: TestClient, on: dt.date, case_id: str = CASE) -> Served | None:
    """What a poll on `on` serves, read each way polls read it (through SQLAlchemy, and
    through the driver: sqlite3's, or psycopg's async connections)."""
    service = service_of(client)
    artifact_id = service.model().artifact.id
    served = live.stored(service.database, case_id, on, artifact_id)
    if service.local_polls is not None:
        assert service.local_polls.stored(case_id, on, artifact_id) == served
    if service.network_polls is not None:

        async def read() -> Served | None:
            polls = live.NetworkPolls(service.database)  # the service's are its loop's
            try:
                return await polls.stored(case_id, on, artifact_id)
            finally:
                await polls.close()

        assert asyncio.run(read()) == served
    return served


def rebuilt_on(client: TestClient, on: dt.date) -> Served:
    """The forecast for `on` rebuilt from every report, as midnight would without preparing."""
    service = service_of(client)
    with service.database.begin() as connection:
        connection.execute(delete(NextForecastRow))
    with service.sessions() as session:
        return live.refresh(session, service.model(), CASE, on)


def prepared_count(client: TestClient) -> int:
    with service_of(client).sessions() as session:
        return session.scalar(select(func.count()).select_from(NextForecastRow)) or 0


def test_tomorrows_forecast_is_what_a_rebuild_at_midnight_serves(watched: TestClient) -> None:
    assert day_ahead(watched).step(BEFORE_MIDNIGHT - dt.timedelta(hours=3)) == 0  # too early
    assert served_on(watched, TOMORROW) is None
    assert day_ahead(watched).step(BEFORE_MIDNIGHT) == 1
    assert day_ahead(watched).step(BEFORE_MIDNIGHT) == 0  # nothing left to prepare
    prepared = served_on(watched, TOMORROW)
    assert prepared is not None and prepared != served_on(watched, today())  # a day older
    assert prepared == rebuilt_on(watched, TOMORROW)


def test_a_write_after_preparing_makes_it_stale_and_it_is_prepared_again(
    watched: TestClient,
) -> None:
    day_ahead(watched).step(BEFORE_MIDNIGHT)
    posted = watched.post(REPORTS, json=report(indicator="pretext_claims"), headers=AUTH)
    assert posted.status_code == 201
    assert served_on(watched, TOMORROW) is None  # prepared from a live row that has changed
    assert day_ahead(watched).step(BEFORE_MIDNIGHT) == 1
    prepared = served_on(watched, TOMORROW)
    assert prepared is not None and '"reports_used":3' in prepared.payload
    assert prepared == rebuilt_on(watched, TOMORROW)


def test_after_midnight_it_is_served_then_made_live_without_reading_a_report(
    watched: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_ahead(watched).step(BEFORE_MIDNIGHT)
    prepared = served_on(watched, TOMORROW)
    assert prepared is not None

    def no_rebuild(*args: Any) -> None:
        raise AssertionError("a case's reports were read to make its prepared forecast live")

    monkeypatch.setattr(store, "list_reports", no_rebuild)
    monkeypatch.setattr(live, "_forecast", no_rebuild)  # made live as prepared
    assert day_ahead(watched).step(AFTER_MIDNIGHT) == 1
    assert day_ahead(watched).step(AFTER_MIDNIGHT) == 0
    assert prepared_count(watched) == 0
    with service_of(watched).sessions() as session:
        row = session.get(LiveForecastRow, CASE)
        assert row is not None and (row.evidence_on, row.etag) == (TOMORROW, prepared.etag)
    assert served_on(watched, TOMORROW) == prepared


def test_a_forecast_prepared_before_a_write_is_rebuilt_when_its_day_comes(
    watched: TestClient,
) -> None:
    day_ahead(watched).step(BEFORE_MIDNIGHT)
    watched.post(REPORTS, json=report(indicator="pretext_claims"), headers=AUTH)
    assert day_ahead(watched).step(AFTER_MIDNIGHT) == 1  # not as prepared: rebuilt
    assert prepared_count(watched) == 0
    made_live = served_on(watched, TOMORROW)
    assert made_live is not None and '"reports_used":3' in made_live.payload
    assert made_live == rebuilt_on(watched, TOMORROW)


def test_a_batch_is_made_live_together_and_a_faulty_case_alone(
    watched: TestClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    written, faulty = "written-since", "faulty"
    for case_id in (written, faulty):
        made = watched.post("/v1/cases", json=BELARUS | {"id": case_id}, headers=AUTH)
        assert made.status_code == 201
        posted = watched.post(f"/v1/cases/{case_id}/reports", json=report(), headers=AUTH)
        assert posted.status_code == 201
    assert day_ahead(watched).step(BEFORE_MIDNIGHT) == 3
    prepared = {case_id: served_on(watched, TOMORROW, case_id) for case_id in (CASE, faulty)}
    more = report(indicator="pretext_claims")
    assert watched.post(f"/v1/cases/{written}/reports", json=more, headers=AUTH).status_code == 201
    evaluate = alerts.evaluate

    def fails_for_one(session: Any, engine: Any, change: ForecastChange) -> None:
        if change.case_id == faulty:
            raise RuntimeError("a fault in one case")
        evaluate(session, engine, change)

    monkeypatch.setattr(alerts, "evaluate", fails_for_one)
    assert day_ahead(watched).step(AFTER_MIDNIGHT) == 3
    assert "could not be made live together" in caplog.text
    with service_of(watched).sessions() as session:
        rows = {row.case_id: row for row in session.scalars(select(LiveForecastRow))}
    as_prepared = prepared[CASE]
    assert as_prepared is not None
    assert (rows[CASE].evidence_on, rows[CASE].etag) == (TOMORROW, as_prepared.etag)
    assert rows[written].evidence_on == TOMORROW and rows[written].reports_used == 2  # rebuilt
    assert rows[faulty].evidence_on == today()  # left alone, and served as prepared meanwhile
    assert served_on(watched, TOMORROW, faulty) == prepared[faulty]
    assert prepared_count(watched) == 1


def test_a_retraction_that_changes_nothing_leaves_the_prepared_forecast(
    watched: TestClient,
) -> None:
    """The day has turned with today's forecast prepared: retracting a report retracted before
    writes nothing, so the prepared row stays to be served and made live."""
    [first, _] = watched.get(REPORTS).json()
    assert watched.delete(f"{REPORTS}/{first['id']}", headers=AUTH).status_code == 200
    service = service_of(watched)
    with service.database.begin() as connection:
        yesterday = today() - dt.timedelta(days=1)
        connection.execute(update(LiveForecastRow).values(evidence_on=yesterday))
    with service.sessions() as session:
        assert live.prepare(session, service.model(), CASE, today())
    prepared = served_on(watched, today())
    assert prepared is not None
    assert watched.delete(f"{REPORTS}/{first['id']}", headers=AUTH).status_code == 200
    assert prepared_count(watched) == 1
    assert served_on(watched, today()) == prepared


def test_forecasts_prepared_for_a_day_gone_by_are_dropped(watched: TestClient) -> None:
    day_ahead(watched).step(BEFORE_MIDNIGHT)
    assert prepared_count(watched) == 1
    a_day_later = AFTER_MIDNIGHT + dt.timedelta(days=1)  # the process was down at midnight
    assert day_ahead(watched).step(a_day_later) == 0
    assert prepared_count(watched) == 0


def test_a_write_to_a_stale_forecast_is_never_rebuilt_in_the_writer_thread(
    watched: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its day turned with nothing prepared: the writer refuses to rebuild it (`live.Stale`,
    nothing stored), the POST or DELETE brings it up to date in the thread pool and writes
    again, and the writer thread only adds the new report to its sums or takes one out."""

    def turn_the_day() -> None:
        with service_of(watched).database.begin() as connection:
            yesterday = today() - dt.timedelta(days=1)
            connection.execute(update(LiveForecastRow).values(evidence_on=yesterday))

    turn_the_day()
    readers: list[str] = []
    list_reports = store.list_reports

    def listing(*args: Any) -> Any:
        readers.append(threading.current_thread().name)
        return list_reports(*args)

    monkeypatch.setattr(store, "list_reports", listing)
    posted = watched.post(REPORTS, json=report(indicator="pretext_claims"), headers=AUTH)
    assert posted.status_code == 201 and posted.json()["forecast"]["reports_used"] == 3
    assert readers and "report-writer" not in readers
    assert watched.get(FORECAST).json()["reports_used"] == 3  # stored once
    turn_the_day()
    readers.clear()
    report_id = posted.json()["reports"][0]["id"]
    assert watched.delete(f"{REPORTS}/{report_id}", headers=AUTH).status_code == 200
    assert readers and "report-writer" not in readers
    assert watched.get(FORECAST).json()["reports_used"] == 2
