"""The service as it runs: uvicorn on 127.0.0.1, driven over HTTP with httpx."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.forecasting import today

from ..postgres import free_port
from .conftest import BELARUS, TOKEN
from .test_reports_and_forecast import report


@pytest.fixture
def server(artifact_path: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    env = os.environ | {
        "ESC_ARTIFACT_PATH": str(artifact_path),
        "ESC_DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
        "ESC_WRITE_TOKEN": TOKEN,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "app.main:create_app"]
    process = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            process.terminate()
            pytest.fail(f"uvicorn did not become ready: {process.communicate()[1].decode()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


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
