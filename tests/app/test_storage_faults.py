"""Storage faults, made for real: a database file made immutable, deleted, or on a full disk; a
PostgreSQL database that refuses connections. Readiness says so, requests answer a JSON 503
with a log line, and the service recovers by itself once the storage is back."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from app.main import create_app
from app.settings import Settings
from app.store.db import open_database

from ..service import AUTH, BELARUS, FORECAST, REPORTS, TOKEN, report, server_process

pytestmark = pytest.mark.system  # uvicorn in processes of its own


def not_ready(client: TestClient, reason: str) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 503 and reason in ready.json()["reason"], ready.text


def unavailable(response: object, caplog: pytest.LogCaptureFixture) -> None:
    """A 503 in the error body, with Retry-After, and logged."""
    assert getattr(response, "status_code", None) == 503, getattr(response, "text", response)
    error = response.json()["detail"][0]  # type: ignore[attr-defined]
    assert error["loc"] == ["database"] and error["type"] == "no_storage"
    assert response.headers["retry-after"]  # type: ignore[attr-defined]
    assert any("storage unavailable" in record.getMessage() for record in caplog.records)


@contextlib.contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """`paths` made immutable (even root cannot write them) until the block ends."""
    names = [str(path) for path in paths]
    if subprocess.run(["chattr", "+i", *names], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not possible here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", *names], check=True)


@pytest.fixture
def sqlite_app(artifact_path: Path) -> Callable[[Path], TestClient]:
    """A client of the service on a SQLite file in the given directory."""

    def build(directory: Path) -> TestClient:
        return service(artifact_path, f"sqlite:///{directory / 'escalation.db'}")

    return build


def service(artifact_path: Path, database_url: str) -> TestClient:
    settings = {"artifact_path": artifact_path, "database_url": database_url, "write_token": TOKEN}
    settings["writer"] = "thread"  # the faults are in this process's connections
    return TestClient(create_app(Settings.model_validate(settings)))


def test_an_immutable_database_is_reported_and_recovered_from(
    artifact_path: Path, tmp_path: Path
) -> None:
    """Every file of the database made immutable, the directory too. A live server, since the
    fault this guards against is a SIGBUS that would end the test run with it."""
    database = f"sqlite:///{tmp_path / 'escalation.db'}"
    with server_process(artifact_path, database) as (url, process):
        assert httpx.post(f"{url}/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        with immutable(*tmp_path.glob("escalation.db*"), tmp_path):
            ready = httpx.get(f"{url}/readyz")
            assert ready.status_code == 503 and "read-only" in ready.json()["reason"]
            for answer in (
                httpx.get(f"{url}{FORECAST}"),
                httpx.post(f"{url}{REPORTS}", json=report(), headers=AUTH),
            ):
                assert answer.status_code == 503 and answer.json()["detail"][0]["loc"] == [
                    "database"
                ]
            assert process.poll() is None  # alive
        assert httpx.get(f"{url}/readyz").status_code == 200  # no restart
        assert httpx.post(f"{url}{REPORTS}", json=report(), headers=AUTH).status_code == 201


def test_a_server_stopped_while_its_database_is_immutable_exits_cleanly(
    artifact_path: Path, tmp_path: Path
) -> None:
    """Closing a SQLite connection writes to its shared memory too: no SIGBUS at exit."""
    database = f"sqlite:///{tmp_path / 'escalation.db'}"
    with server_process(artifact_path, database) as (url, process):
        assert httpx.post(f"{url}/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        assert httpx.get(f"{url}{FORECAST}").status_code == 200  # the poll connection is open
        with immutable(*tmp_path.glob("escalation.db*"), tmp_path):
            process.terminate()
            assert process.wait(timeout=20) in (0, -signal.SIGTERM)  # uvicorn re-raises it


def test_a_deleted_database_is_reported(
    sqlite_app: Callable[[Path], TestClient], tmp_path: Path
) -> None:
    with sqlite_app(tmp_path) as client:
        (tmp_path / "escalation.db").unlink()
        not_ready(client, "is gone")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB file system of its own."""
    mount = tmp_path / "disk"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)]
    if subprocess.run(command, capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small file system here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(path: Path) -> None:
    """Write to `path` until the disk is full."""
    with contextlib.suppress(OSError), path.open("wb") as filler:
        while True:
            filler.write(b"\0" * 1024 * 1024)
            filler.flush()
    with contextlib.suppress(OSError), path.open("ab") as filler:  # the last bytes too
        while True:
            filler.write(b"\0" * 4096)
            filler.flush()


def test_a_full_disk_is_reported_and_recovered_from(
    sqlite_app: Callable[[Path], TestClient],
    small_disk: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with sqlite_app(small_disk) as client:
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        filler = small_disk / "filler"
        fill(filler)
        not_ready(client, "is full")
        batch = [report(note="n" * 3000) for _ in range(200)]  # needs new pages
        unavailable(client.post(REPORTS, json=batch, headers=AUTH), caplog)
        filler.unlink()
        assert client.get("/readyz").status_code == 200
        assert client.post(REPORTS, json=batch, headers=AUTH).status_code == 201


@pytest.fixture
def own_postgres_database(postgres_url: str) -> Iterator[tuple[str, Callable[[bool], None]]]:
    """A database of its own on the test server, and a switch that stops or allows
    connections to it (and ends those open): the server stays up for the other tests."""
    admin = open_database(postgres_url).execution_options(isolation_level="AUTOCOMMIT")
    name = "escalation_faults"
    with admin.connect() as connection:
        connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        connection.exec_driver_sql(f"CREATE DATABASE {name}")

    def allow(allowed: bool) -> None:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"ALTER DATABASE {name} ALLOW_CONNECTIONS {allowed}")
            if not allowed:
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{name}'"
                )

    try:
        yield make_url(postgres_url).set(database=name).render_as_string(False), allow
    finally:
        allow(True)
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def test_postgresql_going_away_is_reported_and_recovered_from(
    artifact_path: Path,
    own_postgres_database: tuple[str, Callable[[bool], None]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, allow = own_postgres_database
    with service(artifact_path, url) as client:
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        allow(False)
        not_ready(client, "database unreachable")
        unavailable(client.get("/v1/cases"), caplog)
        unavailable(client.post(REPORTS, json=report(), headers=AUTH), caplog)
        allow(True)
        assert client.get("/readyz").status_code == 200
        assert client.post(REPORTS, json=report(), headers=AUTH).status_code == 201
