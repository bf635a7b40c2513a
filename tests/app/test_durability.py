"""kill -9 durability, with real processes, on a SQLite file and on PostgreSQL.

A 201 is the service's promise that a POST's reports are committed: the writer answers only
after its group's commit. So a server killed with SIGKILL while POSTs are in flight may lose
only POSTs it never answered, and each of those whole or not at all (a batch is one
transaction). After a restart on the same database every report of every acknowledged POST is
there exactly once, under the id the 201 gave it, the case's forecast counts exactly the stored
reports, and a client that retries the POSTs it never saw answered (same idempotency keys) ends
with every report stored once."""

from __future__ import annotations

import asyncio
import functools
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from ..receiver import receiving
from ..service import AUTH, BELARUS, FORECAST, REPORTS, every_item, report, server_process

pytestmark = pytest.mark.system  # uvicorn in processes of its own

POSTS = 400  # per round
CONCURRENCY = 32
KILL_AFTER = 100  # acknowledgements before the kill
ROUNDS = 2
QUIET = "--no-access-log"  # no line per request in the servers' logs

type Body = dict[str, Any] | list[dict[str, Any]]


def bodies(round_: int) -> list[Body]:
    """One round's POST bodies: single reports, every fourth a batch of two to four; every
    report with its own idempotency key and its own source, to tell it apart in storage."""
    posts: list[Body] = []
    for n in range(POSTS):
        batch = [
            report(
                grade="ABCDEF"[(n + k) % 6],
                source=f"durability round {round_} post {n} report {k}",
                idempotency_key=f"kill-{round_}-{n}-{k}",
            )
            for k in range(1 if n % 4 else 2 + n % 3)
        ]
        posts.append(batch if len(batch) > 1 else batch[0])
    return posts


def reports_of(body: Body) -> list[dict[str, Any]]:
    return body if isinstance(body, list) else [body]


def post_all(
    url: str, posts: list[Body], which: list[int], kill: Callable[[], None] | None = None
) -> dict[int, list[int]]:
    """POST `posts[n]` for every n in `which`, CONCURRENCY at a time: the acknowledged ones (n:
    the report ids their 201 gave). With `kill`, it is called at the KILL_AFTER-th 201 and the
    POSTs then failing on the dead connection are expected; without, every POST must succeed."""
    acked: dict[int, list[int]] = {}

    async def run() -> None:
        gate = asyncio.Semaphore(CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as http:

            async def post(n: int) -> None:
                async with gate:
                    try:
                        answer = await http.post(REPORTS, json=posts[n], headers=AUTH)
                    except httpx.TransportError:
                        if kill is None:
                            raise
                        return
                assert answer.status_code == 201, answer.text
                acked[n] = [stored["id"] for stored in answer.json()["reports"]]
                if kill is not None and len(acked) == KILL_AFTER:
                    kill()

            await asyncio.gather(*(post(n) for n in which))

    asyncio.run(run())
    return acked


def assert_durable(url: str, posts: list[Body], acked: dict[int, list[int]]) -> None:
    """What the store holds after a kill: nothing twice, nothing that was not sent, every
    acknowledged report under the id it was acknowledged with, every other POST whole or not at
    all, and a forecast that counts exactly the stored reports."""
    rows = every_item(f"{url}{REPORTS}")
    counts = Counter(row["idempotency_key"] for row in rows)
    assert [key for key, count in counts.items() if count > 1] == []
    by_key = {row["idempotency_key"]: row for row in rows}
    sent = {one["idempotency_key"]: one for body in posts for one in reports_of(body)}
    assert set(by_key) <= set(sent)
    assert all(row["source"] == sent[key]["source"] for key, row in by_key.items())
    for n, body in enumerate(posts):
        keys = [one["idempotency_key"] for one in reports_of(body)]
        if n in acked:
            assert [by_key[key]["id"] if key in by_key else None for key in keys] == acked[n]
        else:
            assert len({key in by_key for key in keys}) == 1, f"POST {n} stored in part"
    forecast = httpx.get(f"{url}{FORECAST}", timeout=10).json()
    assert forecast["reports_used"] == sum(row["retracted_at"] is None for row in rows)


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid`."""
    return [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _parent_and_state(stat) == (pid, True)
    ]


def assert_ended(pids: list[int], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while alive := [pid for pid in pids if _parent_and_state(Path(f"/proc/{pid}/stat"))[1]]:
        assert time.monotonic() < deadline, f"still running after {seconds} s: {alive}"
        time.sleep(0.05)


def _parent_and_state(stat: Path) -> tuple[int, bool]:
    """A process's parent, and whether it runs (neither gone nor a zombie)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0, False
    return int(fields[1]), fields[0] not in ("Z", "X")


def test_acknowledged_reports_survive_kill_9_exactly_once(
    database_url: str, artifact_path: Path
) -> None:
    posts: list[Body] = []
    acked: dict[int, list[int]] = {}
    # Killed servers are left in the stack: leaving it reaps them and stops the live one.
    with ExitStack() as servers:
        url, server = servers.enter_context(server_process(artifact_path, database_url, QUIET))
        assert httpx.post(f"{url}/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        for round_ in range(ROUNDS):
            start = len(posts)
            posts += bodies(round_)
            kill = functools.partial(os.kill, server.pid, signal.SIGKILL)
            answered = post_all(url, posts, list(range(start, len(posts))), kill)
            assert KILL_AFTER <= len(answered) < POSTS, "the kill came after the last POST"
            acked |= answered

            url, server = servers.enter_context(server_process(artifact_path, database_url, QUIET))
            assert_durable(url, posts, acked)
            unanswered = [n for n in range(len(posts)) if n not in acked]
            retried = post_all(url, posts, unanswered)
            acked |= retried
            assert len(acked) == len(posts)
            assert_durable(url, posts, acked)


def test_an_alert_committed_but_not_delivered_survives_kill_9(
    database_url: str, artifact_path: Path
) -> None:
    """The server is killed while the receiver holds the delivery unanswered: the alert was
    committed with its forecast and sent, but never acknowledged. The next server on the same
    database delivers it once the dead one's lease runs out, with the same idempotency key."""
    alerts = f"/v1/cases/{BELARUS['id']}/alerts"
    quick = {"alert_lease_seconds": "1", "alert_poll_seconds": "0.1"}
    with ExitStack() as servers, receiving() as receiver:
        receiver.hold = threading.Event()
        url, server = servers.enter_context(
            server_process(artifact_path, database_url, QUIET, **quick)
        )
        assert httpx.post(f"{url}/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        now = httpx.get(f"{url}{FORECAST}").json()["probabilities"]
        low = next(p["mean"] for p in now if p["outcome"] == "direct_invasion")
        rule = {"url": receiver.url, "outcome": "direct_invasion", "threshold": low + 0.001}
        made = httpx.post(f"{url}{alerts}", json=rule, headers=AUTH)
        assert made.status_code == 201, made.text
        raised = report(grade="A", source="the crossing report")
        assert httpx.post(f"{url}{REPORTS}", json=raised, headers=AUTH).status_code == 201
        [held] = receiver.wait_for(1)
        writers = children(server.pid)  # the report writer's process, and multiprocessing's
        assert writers
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        assert_ended(writers)  # they read the end of their pipes
        held_key = held.headers["idempotency-key"]
        receiver.hold.set()
        receiver.hold = None

        url, _ = servers.enter_context(server_process(artifact_path, database_url, QUIET, **quick))
        sent = receiver.wait_for(2)
        assert {one.headers["idempotency-key"] for one in sent} == {held_key}
        assert sent[0].body == sent[1].body  # the same alert, sent again
        log_url = f"{url}{alerts}/{made.json()['id']}/deliveries"
        deadline = time.monotonic() + 20
        while (log := httpx.get(log_url).json())[0]["state"] == "pending":
            assert time.monotonic() < deadline, log
            time.sleep(0.1)
        assert [(d["state"], d["idempotency_key"]) for d in log] == [("delivered", held_key)]
