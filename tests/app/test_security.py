"""Security headers, no credentials in URLs, the back-off after wrong tokens, the database file's
mode, and the transport's bounds on request heads."""

from __future__ import annotations

import contextlib
import logging
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient
from starlette.types import Receive, Scope, Send

from app import transport
from app.security import CSP, RedactCredentials, WrongTokens
from app.store.db import StorageError, open_database

from ..postgres import free_port
from ..service import AUTH, BELARUS, REPORTS, report


@pytest.mark.parametrize("path", ["/", "/v1/cases", "/v1/cases/nowhere", "/static/dashboard.js"])
def test_every_response_carries_the_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-security-policy"] == CSP
    assert "frame-ancestors 'none'" in CSP and "'unsafe-inline'" not in CSP


def test_the_docs_pages_name_only_local_assets(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert (
            html.status_code == 200
            and "script-src 'self'" in html.headers["content-security-policy"]
        )
        assert "http" not in html.text  # every asset from this origin
        for asset in ("/static/vendor/swagger-ui-bundle.js", "/static/vendor/redoc.standalone.js"):
            assert client.get(asset).status_code == 200


@pytest.mark.usefixtures("case")
def test_a_token_in_the_url_is_refused_and_not_logged(client: TestClient) -> None:
    leaked = client.post(f"{REPORTS}?token=secret-123", json=report())
    assert leaked.status_code == 400 and leaked.json()["detail"][0]["loc"] == ["query", "token"]
    assert client.get(REPORTS).json() == []
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "POST", f"{REPORTS}?a=1&token=secret-123&api_key=k", "1.1", 400), None,
    )  # fmt: skip
    RedactCredentials().filter(record)
    assert "secret" not in record.getMessage() and "token=[redacted]" in record.getMessage()
    assert "api_key=[redacted]" in record.getMessage() and "a=1" in record.getMessage()


# The back-off is kept in the process, not in the store: one database shows it (a second
# would only wait out the pause again).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_wrong_tokens_back_off_per_client(client: TestClient) -> None:
    wrong = {"Authorization": "Bearer nope"}
    codes = [client.post("/v1/cases", json=BELARUS, headers=wrong).status_code for _ in range(6)]
    assert codes == [401] * 6
    blocked = client.post("/v1/cases", json=BELARUS, headers=AUTH)  # even the right token waits
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert client.get("/v1/cases").json() == []
    time.sleep(1.05)
    assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201


def test_the_back_off_doubles_is_capped_and_forgets_the_oldest_clients() -> None:
    strikes = WrongTokens()
    strikes.CLIENTS = 3
    for _ in range(WrongTokens.FREE):
        strikes.failed("a", now=0.0)
    assert strikes.wait("a", now=0.0) == 0.0  # the free tries
    pauses = []
    for _ in range(12):
        strikes.failed("a", now=0.0)
        pauses.append(strikes.wait("a", now=0.0))
    assert pauses[:4] == [1.0, 2.0, 4.0, 8.0] and pauses[-1] == WrongTokens.MAX_SECONDS
    strikes.succeeded("a")
    assert strikes.wait("a", now=0.0) == 0.0
    for client in ("b", "c", "d", "e"):
        strikes.failed(client, now=0.0)
    assert len(strikes._clients) == 3 and "b" not in strikes._clients


def test_a_new_database_file_is_private_and_a_lost_one_is_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "var" / "escalation.db"
    open_database(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.unlink()
    with pytest.raises(StorageError, match="missing, though one was created there"):
        open_database(f"sqlite:///{path}")
    assert not path.exists()


async def _hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"hello"})


@contextlib.contextmanager
def bounded_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """uvicorn with the service's transport, its head timeout shortened, on a free port."""
    monkeypatch.setattr(transport, "HEAD_SECONDS", 0.5)
    port = free_port()
    config = uvicorn.Config(_hello, host="127.0.0.1", port=port, http=transport.BoundedHttpTools)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join()


def exchange(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            connection.sendall(data)
        with contextlib.suppress(ConnectionResetError):
            return connection.recv(200)
    return b""


def test_the_transport_bounds_request_heads(monkeypatch: pytest.MonkeyPatch) -> None:
    with bounded_server(monkeypatch) as port:
        assert exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/1.1 200")
        big = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n"
        assert exchange(port, big).startswith(b"HTTP/1.1 431")  # one read, measured whole
        endless = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 5_000_000  # never ends: cut off early
        answer = exchange(port, endless)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 431")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
            slow.sendall(b"GET / HTTP/1.1\r\n")  # and then nothing
            started = time.monotonic()
            assert slow.recv(10) == b""  # closed by the server
            assert time.monotonic() - started < 3
