"""Limits on what a request may cost: request bodies are JSON only, and not over MAX_BODY_BYTES
(declared or streamed); CPU-bound requests are admitted a few at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import Busy, error_bytes

MAX_BODY_BYTES = 2 * 1024 * 1024
WRITE_METHODS = {"POST", "PUT", "PATCH"}


class BodyLimits:
    """415 for a write whose body is not JSON, 413 for a body over the limit; the request never
    reaches a handler, so nothing is stored."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        length = headers.get("content-length", "")
        has_body = length not in ("", "0") or "transfer-encoding" in headers
        if has_body and kind != "application/json":
            reason = f"send application/json, not {kind or 'nothing'}"
            await _refuse(send, 415, "header.content-type", reason)
            return
        if length.isdigit() and int(length) > self.max_bytes:
            await _refuse(send, 413, "body", f"larger than {self.max_bytes} bytes")
            return
        # Read the body here, up to the limit (FastAPI turns any error raised while it reads a
        # body into a 400), then hand it to the app in one piece.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await _refuse(send, 413, "body", f"larger than {self.max_bytes} bytes")
                return
            more = message.get("more_body", False)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _refuse(send: Send, status: int, where: str, reason: str) -> None:
    body = error_bytes(where, reason, "too_large" if status == 413 else "unsupported_media_type")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class CostlyWork:
    """Admission for requests whose work is CPU-bound (a what-if parses a scenario in the one
    worker process, `app.scenarios`; a timeline replays the case on many dates): `running` at
    once, up to `waiting` more queued for at
    most `patience` seconds, the rest a 429. The queue is bounded, and so is the memory and
    time that waiting requests hold."""

    def __init__(self, running: int = 1, waiting: int = 16, patience: float = 10.0) -> None:
        self._slots = asyncio.Semaphore(running)
        self._waiting = waiting
        self._queued = 0
        self._patience = patience

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        if self._queued >= self._waiting:
            raise Busy(f"{self._queued} costly requests are already waiting", 1)
        self._queued += 1
        try:
            async with asyncio.timeout(self._patience):
                await self._slots.acquire()
        except TimeoutError:
            raise Busy(f"no capacity within {self._patience:.0f} s", 5) from None
        finally:
            self._queued -= 1
        try:
            yield
        finally:
            self._slots.release()
