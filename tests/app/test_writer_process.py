"""The report writer in a process of its own (`app.writer_process`, what the service runs by
default): it answers as the thread does, its refusals arrive intact, and one that dies is
replaced (on SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import signal
import time
from collections.abc import Callable, Iterator
from multiprocessing import Pipe
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.forecasting import today
from app.writer_process import Frames, ProcessWriter, _portable

from ..service import AUTH, BELARUS, report, service_of

OPENED_YESTERDAY = BELARUS | {
    "id": "opened-yesterday",
    "opened_on": (today() - dt.timedelta(days=1)).isoformat(),
}


@pytest.fixture
def writing(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    """A client of an app whose writer is a process, with the Belarus case stored."""
    with TestClient(make_app(writer="process")) as client:
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        yield client


def process_writer(client: TestClient) -> ProcessWriter:
    writer = service_of(client).writer
    assert isinstance(writer, ProcessWriter)
    return writer


def written_by(make_app: Callable[..., FastAPI], writer: str) -> dict[str, Any]:
    """A case written by this kind of writer: the POST's answer, the forecast then served, the
    retraction's answer and the forecast after it."""
    case = BELARUS | {"id": f"written-by-{writer}"}
    reports = f"/v1/cases/{case['id']}/reports"
    forecast = f"/v1/cases/{case['id']}/forecast"
    with TestClient(make_app(writer=writer)) as client:
        assert client.post("/v1/cases", json=case, headers=AUTH).status_code == 201
        batch = [report(), report(indicator="pretext_claims", grade="B")]
        posted = client.post(reports, json=batch, headers=AUTH)
        assert posted.status_code == 201, posted.text
        served = client.get(forecast).json()
        first = posted.json()["reports"][0]["id"]
        retracted = client.delete(f"{reports}/{first}", headers=AUTH)
        assert retracted.status_code == 200, retracted.text
        return {
            "posted": posted.json(),
            "served": served,
            "retracted": retracted.json(),
            "after": client.get(forecast).json(),
        }


def test_the_process_answers_as_the_thread_does(make_app: Callable[..., FastAPI]) -> None:
    thread, process = written_by(make_app, "thread"), written_by(make_app, "process")
    for written in (thread, process):
        assert written["posted"]["forecast"] == written["served"]  # the answer is what is stored
        assert written["retracted"]["retracted_at"] is not None
        assert written["after"]["reports_used"] == 1
    for key in ("served", "after"):
        assert process[key]["probabilities"] == thread[key]["probabilities"]
    same = ("indicator", "value", "observed_on", "grade", "source")
    assert [{k: r[k] for k in same} for r in process["posted"]["reports"]] == [
        {k: r[k] for k in same} for r in thread["posted"]["reports"]
    ]


def test_refusals_cross_from_the_process_intact(writing: TestClient) -> None:
    """Refused in the writer's transaction, so in the child: the key's role, an unknown case,
    a report from before the case's period."""
    made = writing.post("/v1/keys", json={"name": "bob", "role": "reader"}, headers=AUTH)
    assert made.status_code == 201, made.text
    viewer = {"Authorization": f"Bearer {made.json()['secret']}"}
    refused = writing.post("/v1/cases/belarus-ukraine-2022/reports", json=report(), headers=viewer)
    assert refused.status_code == 403 and "analyst" in refused.text

    unknown = writing.post("/v1/cases/no-such-case/reports", json=report(), headers=AUTH)
    assert unknown.status_code == 404 and unknown.json()["detail"][0]["loc"] == ["path", "case_id"]

    assert writing.post("/v1/cases", json=OPENED_YESTERDAY, headers=AUTH).status_code == 201
    early = writing.post("/v1/cases/opened-yesterday/reports", json=report(), headers=AUTH)
    assert early.status_code == 422 and "opened_on" in early.text


def test_a_writer_that_dies_is_replaced(writing: TestClient) -> None:
    """A POST while the child is gone is a 503 naming the writer (or, once the next child is
    up, written); the next child writes as the first did."""
    writer, path = process_writer(writing), "/v1/cases/belarus-ukraine-2022/reports"
    dead = writer.pid
    assert dead is not None
    os.kill(dead, signal.SIGKILL)
    during = writing.post(path, json=report(idempotency_key="during"), headers=AUTH)
    assert during.status_code in (201, 503), during.text
    if during.status_code == 503:
        assert during.json()["detail"][0]["loc"] == ["writer"]
        assert during.headers["retry-after"]
    deadline = time.monotonic() + 30
    while writer.pid in (None, dead):
        assert time.monotonic() < deadline, "no writer started again"
        time.sleep(0.05)
    after = writing.post(path, json=report(idempotency_key="during"), headers=AUTH)  # a retry
    assert after.status_code == 201, after.text
    stored = writing.get(path).json()
    assert [r["idempotency_key"] for r in stored] == ["during"]  # once, however it went


@pytest.mark.parametrize("piece", [1, 3, 7, 4096])
def test_answers_arriving_in_pieces_are_read_whole(piece: int) -> None:
    """What `Connection.send` wrote, read back in pieces of any size (a non-blocking pipe gives
    what has arrived): each message whole and in order, nothing left over."""
    sent = [("answers", [(1, "a" * 300)]), ("alerts", []), ("answers", [(2, {"k": [3.5]})])]
    out, into = Pipe(duplex=False)
    for message in sent:
        into.send(message)
    into.close()
    stream = b"".join(iter(lambda: os.read(out.fileno(), 65536), b""))
    frames, received = Frames(), []
    for start in range(0, len(stream), piece):
        frames.add(stream[start : start + piece])
        received += frames.whole()
    assert received == sent
    assert frames.whole() == []


class _KeywordsOnly(Exception):
    """An error that does not survive a pickle round trip (its argument is a keyword)."""

    def __init__(self, *, why: str) -> None:
        super().__init__(why)


def _failing_deep_in_the_writer(error: Exception) -> None:
    raise error


@pytest.mark.parametrize(
    ("error", "arrives_as", "text"),
    [
        (LookupError("no such row"), LookupError, "no such row"),
        (_KeywordsOnly(why="no such row"), RuntimeError, "_KeywordsOnly: no such row"),
    ],
)
def test_an_unexpected_error_crosses_with_where_the_writer_raised_it(
    error: Exception, arrives_as: type[Exception], text: str
) -> None:
    try:
        _failing_deep_in_the_writer(error)
    except Exception as raised:
        _portable(raised)  # a failed commit answers every POST of its group with one error
        crossed = pickle.loads(pickle.dumps(_portable(raised)))
    assert type(crossed) is arrives_as and str(crossed) == text
    [note] = crossed.__notes__
    assert note.startswith("raised in the report writer's process:")
    assert "_failing_deep_in_the_writer" in note
