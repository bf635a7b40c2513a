"""Writes heard by each process (`app.notices`): on PostgreSQL announced when they commit, on
SQLite seen in its count of commits; and PostgreSQL's polls read through a connection of their
own (`app.live.NetworkPolls`), a fault there being a 503 like any storage fault."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from app import live
from app.events import POLL_SECONDS
from app.forecasting import today
from app.live import LocalPolls, NetworkPolls, conninfo
from app.notices import LocalNotices, Notices

from ..postgres import free_port
from ..service import AUTH, CASE, FORECAST, REPORTS, report, service_of

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


class Heard:
    """What a listener tells the event streams (`ForecastEvents.announced` and `heard`)."""

    def __init__(self) -> None:
        self.announced = False
        self.cases: list[str | None] = []
        self.woken = asyncio.Event()

    def heard(self, case_id: str | None) -> None:
        self.cases.append(case_id)
        self.woken.set()

    async def a_write(self, client: TestClient, settle: float = 0.0) -> list[str | None]:
        """Once writes are announced (and `settle` seconds more, nothing written), what is
        heard of a report POSTed, up to the first thing heard of it."""
        for _ in range(500):
            if self.announced:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(settle)
        assert self.announced and self.cases == [None]  # it says that it listens, nothing more
        self.woken.clear()
        posted = await asyncio.to_thread(client.post, REPORTS, json=report(), headers=AUTH)
        assert posted.status_code == 201
        await asyncio.wait_for(self.woken.wait(), 2.0)
        return self.cases


@ON_POSTGRESQL
def test_a_committed_write_is_heard_by_the_listener(case: TestClient) -> None:
    heard = Heard()
    notices = Notices(conninfo(service_of(case).database), heard)

    async def listen() -> list[str | None]:
        notices.start()
        await heard.a_write(case)
        await notices.close()
        return heard.cases

    assert asyncio.run(listen()) == [None, CASE, None]  # closed: no longer listening
    assert heard.announced is False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_commit_to_sqlite_is_heard_by_its_count_of_commits(case: TestClient) -> None:
    """SQLite announces nothing, but `PRAGMA data_version` moves with any other connection's
    commit: one read a tick wakes every watcher, and nothing is heard while nothing is written."""
    heard = Heard()
    polls = LocalPolls(service_of(case).database)
    notices = LocalNotices(polls, heard)

    async def listen() -> list[str | None]:
        notices.start()
        await heard.a_write(case, settle=3 * POLL_SECONDS)
        await notices.close()
        polls.close()
        return heard.cases

    assert asyncio.run(listen()) == [None, None]


@ON_POSTGRESQL
def test_polls_read_through_their_own_connection_what_is_stored(case: TestClient) -> None:
    case.post(REPORTS, json=report(), headers=AUTH)
    service = service_of(case)
    artifact_id = service.model().artifact.id
    stored = live.stored(service.database, CASE, today(), artifact_id)
    polls = NetworkPolls(service.database)

    async def read() -> list[live.Served | None]:
        on = today()
        served = [await polls.stored(CASE, on, artifact_id) for _ in range(3)]
        served.append(await polls.stored(CASE, on + dt.timedelta(days=1), artifact_id))
        await polls.close()
        return served

    assert asyncio.run(read()) == [stored] * 3 + [None]  # tomorrow's: not prepared
    assert stored is not None
    assert case.get(FORECAST).headers["etag"] == stored.etag


@ON_POSTGRESQL
def test_an_unreachable_server_is_a_storage_fault(case: TestClient) -> None:
    nowhere = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing")
    polls = NetworkPolls(nowhere)
    service = service_of(case)
    service.network_polls = polls
    answer = case.get(FORECAST)
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert "connect" in answer.json()["detail"][0]["msg"].lower()
