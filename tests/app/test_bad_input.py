"""Inputs found to break the service (issue 12), on SQLite and PostgreSQL: each answers a 4xx
naming the field and the reason, in the one error body, and stores nothing."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app import scenarios
from app.errors import Busy
from app.forecasting import etag, today
from app.limits import CostlyWork
from app.schemas import ReportIn
from app.writer import _store
from models.errors import InputError

from ..files import ROOT
from ..service import AUTH, BELARUS, CASE, FORECAST, REPORTS, TOKEN, WHAT_IF, report, service_of

pytestmark = pytest.mark.usefixtures("case")

SCENARIO_HEAD = f"version: 1\ntitle: t\nbase_case: {CASE}\nkind: join_war\n"
BILLION_LAUGHS = (
    'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + SCENARIO_HEAD
)


def post(client: TestClient, path: str, body: Any) -> Any:
    """POST `body` as JSON with \\u escapes, as a client sends lone surrogates."""
    headers = AUTH | {"Content-Type": "application/json"}
    return client.post(path, content=json.dumps(body), headers=headers)


def refused(response: Any, status: int, where: str) -> str:
    """Assert `response` is `status` in the error body, about `where`; its message."""
    assert response.status_code == status, response.text
    [error] = response.json()["detail"][:1]
    location = ".".join(map(str, error["loc"]))
    assert where in location, error
    assert error["msg"] and error["type"]
    return str(error["msg"])


@pytest.mark.parametrize(
    ("scenario", "reason"),
    [
        ("\u009f", "not allowed in YAML"),
        ("a: " + "[" * 5000 + "]" * 5000, "nesting depth"),
        ("a:\n  " + "- " * 40 + "x\n", "nested deeper than"),
        (BILLION_LAUGHS, "aliases are expanded"),
        (SCENARIO_HEAD + f"as_of: {'9' * 5000}\n", "invalid value"),
        ("a: &a [*a]\n", "refers to itself"),
    ],
    ids=[
        "control-character",
        "deep-flow",
        "deep-blocks",
        "billion-laughs",
        "huge-integer",
        "recursive",
    ],
)
def test_hostile_scenarios_are_refused_cheaply(
    client: TestClient, scenario: str, reason: str
) -> None:
    assert reason in refused(client.post(WHAT_IF, json={"scenario": scenario}), 422, "scenario")


def test_a_scenario_over_the_size_limit_is_refused(client: TestClient) -> None:
    huge = SCENARIO_HEAD + "#" * 300_000
    refused(client.post(WHAT_IF, json={"scenario": huge}), 422, "body.scenario")


@pytest.mark.parametrize(
    "change",
    [
        {"source": "a\x00b"},
        {"note": "nul \x00 here"},
        {"idempotency_key": "k\x00"},
        {"source": "s" * 501},
        {"source": "\ud800 lone surrogate"},
        {"observed_on": 1658188800},
        {"observed_on": "1658188800"},
        {"observed_on": "2022-07-19T10:00:00"},
    ],
    ids=[
        "nul-source",
        "nul-note",
        "nul-key",
        "long-source",
        "surrogate",
        "unix",
        "unix-text",
        "time",
    ],
)
def test_unstorable_reports_are_refused(client: TestClient, change: dict[str, Any]) -> None:
    field = next(iter(change))
    refused(post(client, REPORTS, report(**change)), 422, field)
    assert client.get(REPORTS).json() == []


@pytest.mark.parametrize(
    ("method", "path", "where"),
    [
        ("DELETE", f"{REPORTS}/9223372036854775808", "report_id"),
        ("DELETE", f"{REPORTS}/0", "report_id"),
        ("GET", "/v1/cases/x%00/forecast", "case_id"),
        ("GET", "/v1/cases/%ED%A0%80", "case_id"),
        ("GET", f"{FORECAST}?as_of=1658188800", "as_of"),
        ("GET", f"{REPORTS}?since=1658188800", "since"),
    ],
)
def test_impossible_ids_and_dates_in_urls_are_refused(
    client: TestClient, method: str, path: str, where: str
) -> None:
    refused(client.request(method, path, headers=AUTH), 422, where)


@pytest.mark.parametrize("field", ["title", "state", "target", "patron"])
def test_a_case_with_unstorable_text_is_refused(client: TestClient, field: str) -> None:
    case = BELARUS | {"id": "other", field: "bad \ud83d text"}
    refused(post(client, "/v1/cases", case), 422, field)
    assert [c["id"] for c in client.get("/v1/cases").json()] == [CASE]


def test_a_key_reused_with_other_content_is_a_conflict(client: TestClient) -> None:
    first = client.post(REPORTS, json=report(idempotency_key="feed-1"), headers=AUTH)
    assert first.status_code == 201
    retry = client.post(REPORTS, json=report(idempotency_key="feed-1"), headers=AUTH)
    assert retry.json()["reports"] == first.json()["reports"]  # a true retry: the same row
    other = report(idempotency_key="feed-1", grade="A")
    reason = refused(client.post(REPORTS, json=other, headers=AUTH), 409, "idempotency_key")
    assert "different content" in reason and str(first.json()["reports"][0]["id"]) in reason
    twice = [report(idempotency_key="feed-2"), report(idempotency_key="feed-2", value=0.2)]
    refused(client.post(REPORTS, json=twice, headers=AUTH), 409, "body.1.idempotency_key")
    assert len(client.get(REPORTS).json()) == 1


def test_a_refused_report_fails_only_its_own_post(client: TestClient) -> None:
    """Should the database refuse a report the checks let through, the POSTs written with it
    are still stored (a trigger stands in for whatever the database might refuse)."""
    database = service_of(client).database
    with database.begin() as connection:
        refuse_marked_reports(connection)
    batches = [[ReportIn.model_validate(report(source=source))] for source in ("a", "x!", "b")]
    with Session(database) as session, session.begin():
        stored, added = _store(session, CASE, batches, ["admin"] * len(batches))
    assert isinstance(stored[1], InputError) and "refused" in stored[1].reason
    assert [len(rows) for rows in (stored[0], stored[2])] == [1, 1] and len(added) == 2  # type: ignore[arg-type]
    posts = [report(source=f"s{n}") for n in range(12)] + [report(source="x!")]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda r: client.post(REPORTS, json=r, headers=AUTH), posts))
    assert [a.status_code for a in answers] == [201] * 12 + [422]
    assert len(client.get(REPORTS).json()) == 2 + 12


def refuse_marked_reports(connection: Any) -> None:
    """Make the database refuse any report whose source ends in '!'."""
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON reports WHEN substr(NEW.source, -1) = '!' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
    else:
        connection.exec_driver_sql(
            "ALTER TABLE reports ADD CONSTRAINT refuse CHECK (right(source, 1) <> '!')"
        )


def test_cases_are_created_while_reports_are_written(client: TestClient) -> None:
    """SQLite: a creation used to fail with "database is locked" when a write came between its
    read and its insert."""

    async def write_reports() -> None:
        writer, batch = service_of(client).writer, [ReportIn.model_validate(report())]
        assert writer is not None
        await asyncio.gather(*(writer.write(CASE, batch, today(), TOKEN, False) for _ in range(60)))

    def create(number: int) -> int:
        case = BELARUS | {"id": f"case-{number}"}
        return client.post("/v1/cases", json=case, headers=AUTH).status_code

    with ThreadPoolExecutor(4) as pool:
        writing = pool.submit(asyncio.run, write_reports())
        codes = list(pool.map(create, range(40)))
        writing.result()
    assert codes == [201] * 40


def test_a_parse_over_its_time_is_stopped(client: TestClient, monkeypatch: Any) -> None:
    """The worker is killed and the request refused; the next one gets a fresh worker."""
    scenario = (ROOT / "scenarios" / "baseline-2022-07-19.yaml").read_text()
    monkeypatch.setattr(scenarios, "PARSE_SECONDS", 0.0)
    assert "took over" in refused(
        client.post(WHAT_IF, json={"scenario": scenario}), 422, "scenario"
    )
    monkeypatch.undo()
    assert client.post(WHAT_IF, json={"scenario": scenario}).status_code == 200


def test_costly_requests_beyond_the_queue_are_told_to_wait() -> None:
    async def crowd() -> list[str]:
        gate = CostlyWork(running=1, waiting=1, patience=0.2)
        outcomes: list[str] = []

        async def one(hold: float) -> None:
            try:
                async with gate.slot():
                    await asyncio.sleep(hold)
                outcomes.append("done")
            except Busy as exc:
                outcomes.append(f"busy {exc.retry_after}")

        await asyncio.gather(one(0.5), one(0), one(0))
        return outcomes

    # one runs, one waits (and gives up after its patience), one finds the queue full
    assert sorted(asyncio.run(crowd())) == ["busy 1", "busy 5", "done"]


def test_a_wrong_method_names_every_method_the_path_serves(client: TestClient) -> None:
    answer = client.put("/v1/cases", json={})
    assert answer.status_code == 405 and answer.headers["allow"] == "GET, POST"
    assert answer.json()["detail"][0]["type"] == "method_not_allowed"


def test_bodies_that_differ_never_share_an_etag() -> None:
    """The live sums and a replay may round the same evidence differently: the tag is the
    body's."""
    assert etag("m-1", '{"mean":0.1}') != etag("m-1", '{"mean":0.1000000001}')
    assert etag("m-1", '{"mean":0.1}') == etag("m-1", '{"mean":0.1}')
