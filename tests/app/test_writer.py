"""Group commit: POSTs that queue while the writer is busy are written together, and each still
gets its own answer (on SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.forecasting import today
from app.schemas import ReportIn
from app.writer import ThreadWriter, Written
from models.errors import NotFoundError

from ..service import AUTH, CASE, REPORTS, TOKEN, report, service_of


class HeldWriter:
    """A writer whose first group waits for `release`, so that the next POSTs queue behind it."""

    def __init__(self, client: TestClient) -> None:
        self.service = service_of(client)
        self.busy, self.release = threading.Event(), threading.Event()
        self.groups = 0
        self.writer = ThreadWriter(self._session, self.service.model())

    def _session(self) -> Session:
        self.groups += 1
        if self.groups == 1:
            self.busy.set()
            self.release.wait(timeout=30)
        session: Session = self.service.sessions()
        return session

    async def post(self, case_id: str, secret: str = TOKEN, **change: Any) -> Written:
        reported = ReportIn.model_validate(report(**change))
        return await self.writer.write(case_id, [reported], today(), secret, rebuild=False)


def first_report(written: Written) -> Any:
    return json.loads(written.reports)[0]


def test_a_group_answers_each_post_and_shares_its_keys(case: TestClient) -> None:
    held = HeldWriter(case)

    async def write() -> tuple[Written, list[Written | BaseException]]:
        first = asyncio.ensure_future(held.post(CASE))
        await asyncio.to_thread(held.busy.wait, 30)
        queued = [
            asyncio.ensure_future(post)
            for post in (
                held.post(CASE, indicator="pretext_claims", idempotency_key="feed-1"),
                held.post(CASE, indicator="pretext_claims", idempotency_key="feed-1"),  # retry
                held.post("no-such-case"),
                held.post(CASE, indicator="rhetoric_shift"),
            )
        ]
        await asyncio.sleep(0.05)  # every one is in the queue
        held.release.set()
        return await first, await asyncio.gather(*queued, return_exceptions=True)

    first, (keyed, retried, unknown, other) = asyncio.run(write())
    held.writer.close()

    assert held.groups == 2  # the four queued POSTs were written in one transaction
    assert isinstance(unknown, NotFoundError)  # failed alone: the others were stored
    assert isinstance(keyed, Written) and isinstance(retried, Written)
    assert isinstance(other, Written)
    assert first_report(keyed)["id"] == first_report(retried)["id"]  # the key stored once
    assert first_report(other)["indicator"] == "rhetoric_shift"
    assert keyed.forecast == retried.forecast == other.forecast
    assert json.loads(first.forecast.payload)["reports_used"] == 1
    assert json.loads(other.forecast.payload)["reports_used"] == 3
    assert len(case.get(REPORTS).json()) == 3


def test_a_group_audits_each_post_as_its_own_key(case: TestClient) -> None:
    """One audit entry per POST of a group that stored a report, naming its key and its
    reports; a retry that stored nothing has none."""
    made = case.post("/v1/keys", json={"name": "alice", "role": "analyst"}, headers=AUTH)
    alice = made.json()["secret"]
    held = HeldWriter(case)

    async def write() -> list[Written]:
        first = asyncio.ensure_future(held.post(CASE))
        await asyncio.to_thread(held.busy.wait, 30)
        queued = [
            asyncio.ensure_future(post)
            for post in (
                held.post(CASE, alice, indicator="pretext_claims", idempotency_key="k"),
                held.post(CASE, indicator="rhetoric_shift"),
                held.post(CASE, alice, indicator="pretext_claims", idempotency_key="k"),
                held.post(CASE, alice, indicator="civil_alerts"),
            )
        ]
        await asyncio.sleep(0.05)  # every one is in the queue
        held.release.set()
        return [await first, *await asyncio.gather(*queued)]

    first, keyed, other, retried, last = asyncio.run(write())
    held.writer.close()

    assert held.groups == 2
    entries = case.get("/v1/audit", params={"order": "asc"}, headers=AUTH).json()
    added = [(e["actor"], e["detail"]["reports"]) for e in entries if e["action"] == "reports.add"]
    assert retried.reports == keyed.reports
    assert added == [
        ("admin", [first_report(first)["id"]]),
        ("alice", [first_report(keyed)["id"]]),
        ("admin", [first_report(other)["id"]]),
        ("alice", [first_report(last)["id"]]),
    ]
