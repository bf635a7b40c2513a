"""Security on every request: headers that keep pages from being framed, sniffed or made to load
what they should not; no credentials in URLs (refused, and kept out of the access log); and a
per-client back-off after wrong tokens."""

from __future__ import annotations

import logging
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import error_bytes

CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_CSP = CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + (
    "; worker-src 'self' blob:"
)
"""Swagger UI and ReDoc style their pages with <style> elements they write, and ReDoc searches
in a worker: what their pages need beyond the rest (still no inline script)."""
DOCS_PAGES = {"/docs", "/redoc"}
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
CREDENTIALS = {"token", "access_token", "api_key", "apikey", "key", "password", "secret"}
"""Query parameters that carry a credential: refused, since a URL ends up in logs and history."""


class SecurityMiddleware:
    """ASGI middleware: security headers on every response; 400 for a credential in the URL,
    before the app sees the request (request heads are bounded by `app.transport`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = (DOCS_CSP if scope["path"] in DOCS_PAGES else CSP).encode()
        extra = [*HEADERS, (b"content-security-policy", policy)]

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        leaked = _credential_in(scope.get("query_string", b""))
        if leaked is None:
            await self.app(scope, receive, secured)
            return
        reason = "send the token in the Authorization header, never in the URL"
        body = error_bytes(f"query.{leaked}", reason, "credential_in_url")
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await secured({"type": "http.response.start", "status": 400, "headers": headers})
        await secured({"type": "http.response.body", "body": body})


def _credential_in(query: bytes) -> str | None:
    """The first query parameter that carries a credential, if any."""
    if not query:
        return None
    names = {name.lower() for name, _ in parse_qsl(query.decode("latin-1"))}
    return min(names & CREDENTIALS, default=None)


_CREDENTIAL_VALUE = re.compile(r"(?i)(^|[?&])(" + "|".join(sorted(CREDENTIALS)) + r")=[^&\s\"]*")


class RedactCredentials(logging.Filter):
    """For uvicorn's access log: a credential sent in a URL (and refused) is not written down."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) > 2:
            path = str(record.args[2])
            redacted = _CREDENTIAL_VALUE.sub(r"\1\2=[redacted]", path)
            record.args = (*record.args[:2], redacted, *record.args[3:])
        return True


@dataclass
class _Strikes:
    count: int = 0
    blocked_until: float = 0.0


class WrongTokens:
    """Per-client back-off after wrong tokens: after FREE wrong tries in a row, each further
    one blocks the client for twice as long as the last (1 s, 2 s, 4 s ... up to MAX_SECONDS),
    every try refused meanwhile, the right token included. A right token clears the count.
    At most CLIENTS clients are remembered (the least recently seen are forgotten): memory
    stays bounded whatever the number of addresses. Clients are told apart by address: behind
    a proxy they share one, and a wrong-token storm from one of them slows them all."""

    FREE = 5
    MAX_SECONDS = 300.0
    CLIENTS = 10_000

    def __init__(self) -> None:
        self._clients: OrderedDict[str, _Strikes] = OrderedDict()

    def wait(self, client: str, now: float | None = None) -> float:
        """Seconds this client must wait before it may try a token (0: it may now)."""
        strikes = self._clients.get(client)
        if strikes is None:
            return 0.0
        return max(0.0, strikes.blocked_until - (time.monotonic() if now is None else now))

    def failed(self, client: str, now: float | None = None) -> None:
        strikes = self._clients.pop(client, None) or _Strikes()
        self._clients[client] = strikes  # the most recently seen, last
        strikes.count += 1
        if strikes.count > self.FREE:
            pause = min(2.0 ** (strikes.count - self.FREE - 1), self.MAX_SECONDS)
            strikes.blocked_until = (time.monotonic() if now is None else now) + pause
        while len(self._clients) > self.CLIENTS:
            self._clients.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._clients.pop(client, None)
