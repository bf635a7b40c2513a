"""A webhook receiver on 127.0.0.1 for the alert tests: a real HTTP server in a thread that
records what it is sent, and can be told to fail, or to hold a request without answering."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request as the receiver saw it."""

    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.perf_counter)  # when it arrived

    @property
    def payload(self) -> dict[str, Any]:
        return dict(json.loads(self.body))

    def signed_with(self, secret: str) -> bool:
        """Whether the signature is the HMAC-SHA256 of "<timestamp>.<body>" under `secret`."""
        message = self.headers["x-escalation-timestamp"].encode() + b"." + self.body
        expected = "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers["x-escalation-signature"])


@dataclass
class Receiver:
    """What it was sent, and how it answers: `status`, or (with `hold`) not at all until the
    hold is released."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200
    hold: threading.Event | None = None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, seconds: float = 20) -> list[Received]:
        """Wait until `count` requests have arrived (AssertionError after `seconds`)."""
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.received) >= count, seconds):
                raise AssertionError(f"{len(self.received)} requests arrived, not {count}")
            return list(self.received)


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    """A receiver listening on 127.0.0.1 (on `port`, else a free one) until the block ends."""
    receiver: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            headers = {name.lower(): value for name, value in self.headers.items()}
            with receiver.arrived:
                receiver.received.append(Received(headers, body))
                receiver.arrived.notify_all()
            if receiver.hold is not None:
                receiver.hold.wait(30)
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    receiver = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hook")
    # Polled often: shutdown() waits up to one poll interval (0.5 s by default) for the loop.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.shutdown()
        server.server_close()
