"""The service as it runs: uvicorn on 127.0.0.1, driven over HTTP with httpx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.forecasting import today

from ..postgres import emptied
from ..service import BELARUS, TOKEN, report, server_process, serving

pytestmark = pytest.mark.system  # uvicorn in processes of its own


@pytest.fixture
def server(artifact_path: Path, tmp_path: Path) -> Iterator[str]:
    with serving(artifact_path, f"sqlite:///{tmp_path / 'e2e.db'}") as url:
        yield url


def test_post_reports_then_poll_the_forecast(server: str) -> None:
    auth = {"Authorization": f"Bearer {TOKEN}"}
    case = f"{server}/v1/cases/{BELARUS['id']}"
    with httpx.Client(timeout=10) as http:
        assert http.post(f"{server}/v1/cases", json=BELARUS, headers=auth).status_code == 201
        first = http.get(f"{case}/forecast")
        tag = first.headers["etag"]
        assert http.get(f"{case}/forecast", headers={"If-None-Match": tag}).status_code == 304
        posted = http.post(
            f"{case}/reports", json=[report(), report(indicator="rhetoric_shift")], headers=auth
        )
        assert posted.status_code == 201 and posted.json()["forecast"]["reports_used"] == 2
        now = http.get(f"{case}/forecast", headers={"If-None-Match": tag})
        assert now.status_code == 200 and now.json()["as_of"] == today().isoformat()
        history = http.get(f"{case}/forecast/history").json()
        assert [point["reports_used"] for point in history] == [0, 2]
        csv = http.get(f"{case}/forecast/history", headers={"Accept": "text/csv"})
        assert len(csv.text.strip().splitlines()) == 3


def post_concurrently(servers: list[str], count: int) -> None:
    """`count` reports posted over as many connections, spread over `servers`."""
    auth = {"Authorization": f"Bearer {TOKEN}"}

    async def post_all() -> None:
        async with httpx.AsyncClient(timeout=30) as http:
            posts = [
                http.post(
                    f"{servers[n % len(servers)]}/v1/cases/{BELARUS['id']}/reports",
                    json=report(grade="ABCDEF"[n % 6]),
                    headers=auth,
                )
                for n in range(count)
            ]
            assert {response.status_code for response in await asyncio.gather(*posts)} == {201}

    asyncio.run(post_all())


def assert_consistent(servers: list[str], count: int) -> None:
    """Every process serves the same forecast, byte for byte under one ETag, from all reports."""
    answers = [httpx.get(f"{url}/v1/cases/{BELARUS['id']}/forecast") for url in servers * 3]
    assert len({(a.headers["etag"], a.content) for a in answers}) == 1
    assert answers[0].json()["reports_used"] == count
    replay = httpx.get(
        f"{servers[0]}/v1/cases/{BELARUS['id']}/forecast", params={"as_of": today().isoformat()}
    )
    assert replay.headers["etag"] == answers[0].headers["etag"]


def test_workers_starting_together_on_a_new_sqlite_file_all_start(
    artifact_path: Path, tmp_path: Path
) -> None:
    """Two workers opening a new file at once: one made it, one found it; one switched it to
    WAL while the other waited; one stored the admin key, the other found it. Measured before
    the fix: 4 starts in 20 lost a worker ("database is locked"), and the parent with it."""
    for start in range(4):
        database = f"sqlite:///{tmp_path / f'new-{start}.db'}"
        with server_process(artifact_path, database, "--workers", "2") as (url, process):
            # One worker answers; a worker that failed its start stops the parent soon after.
            time.sleep(3)
            assert process.poll() is None, f"start {start}: a worker failed, the server stopped"
            auth = {"Authorization": f"Bearer {TOKEN}"}
            assert httpx.post(f"{url}/v1/cases", json=BELARUS, headers=auth).status_code == 201


def test_two_workers_on_one_sqlite_file_agree(artifact_path: Path, tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    with serving(artifact_path, database, "--workers", "2") as url:
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(f"{url}/v1/cases", json=BELARUS, headers=auth).status_code == 201
        post_concurrently([url], 40)
        assert_consistent([url], 40)


def test_two_replicas_on_one_postgresql_agree(artifact_path: Path, postgres_url: str) -> None:
    database = emptied(postgres_url)
    # The first replica's two workers migrate the empty database at the same moment.
    with (
        serving(artifact_path, database, "--workers", "2") as first,
        serving(artifact_path, database) as second,
    ):
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.post(f"{first}/v1/cases", json=BELARUS, headers=auth).status_code == 201
        post_concurrently([first, second], 40)
        assert_consistent([first, second], 40)
