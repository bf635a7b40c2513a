"""The service as the tests drive it: the Belarus case, a report, the test key, and uvicorn
serving the app on 127.0.0.1 in a process of its own."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.forecasting import today
from app.service import ForecastService

from .postgres import free_port

TOKEN = "test-token-8f1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BELARUS = {
    "id": "belarus-ukraine-2022",
    "title": "Will Belarus enter Russia's war in Ukraine?",
    "state": "Belarus",
    "target": "Ukraine",
    "patron": "Russia",
}
CASE = BELARUS["id"]
REPORTS = f"/v1/cases/{CASE}/reports"
FORECAST = f"/v1/cases/{CASE}/forecast"
WHAT_IF = f"/v1/cases/{CASE}/what-if"


def service_of(client: TestClient) -> ForecastService:
    """The forecast service of an app a test client runs (`app.service`)."""
    app: Any = client.app
    service: ForecastService = app.state.service
    return service


def every_item(url: str) -> list[dict[str, Any]]:
    """Every item of a list a running service serves, its pages followed by their links."""
    items: list[dict[str, Any]] = []
    next_page: str | None = url
    while next_page is not None:
        answer = httpx.get(next_page, timeout=10)
        answer.raise_for_status()
        items += answer.json()
        next_page = answer.links.get("next", {}).get("url")
    return items


def report(**change: Any) -> dict[str, Any]:
    base = {
        "indicator": "covert_mobilization",
        "value": "present",
        "observed_on": (today() - dt.timedelta(days=3)).isoformat(),
        "source": "Ukrainian military intelligence, via media",
        "grade": "C",
    }
    return base | change


@contextmanager
def serving(
    artifact_path: Path, database_url: str, *options: str, **settings: str
) -> Iterator[str]:
    """uvicorn serving the app on a free port of 127.0.0.1 until the block ends."""
    with server_process(artifact_path, database_url, *options, **settings) as (url, _):
        yield url


@contextmanager
def server_process(
    artifact_path: Path, database_url: str, *options: str, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`serving`, with the server's process (to kill it); `settings` as ESC_* variables."""
    port = free_port()
    env = os.environ | {
        "ESC_ARTIFACT_PATH": str(artifact_path),
        "ESC_DATABASE_URL": database_url,
        "ESC_WRITE_TOKEN": TOKEN,
    }
    env |= {f"ESC_{name.upper()}": value for name, value in settings.items()}
    command = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app", *options]
    command += ["--http", "app.transport:BoundedHttpTools"]  # as `make serve` runs it
    command += ["--timeout-graceful-shutdown", "5"]  # an open event stream must not hold it
    # The server's log goes to a file: a pipe nobody reads while it runs fills up, and the
    # server then blocks on its next log line.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            if not _ready(url):
                process.terminate()
                process.wait(timeout=10)
                log.seek(0)
                pytest.fail(f"uvicorn did not become ready: {log.read().decode()}")
            yield url, process
        except BaseException:
            log.seek(0)  # the server's side of a failure, in the test's captured output
            print(f"server log:\n{log.read().decode(errors='replace')[-8000:]}", file=sys.stderr)
            raise
        finally:
            process.terminate()
            process.wait(timeout=10)


def _ready(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return True
        except httpx.TransportError:
            time.sleep(0.1)
    return False
