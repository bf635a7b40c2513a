"""uvicorn's httptools protocol with the two bounds it lacks (`make serve` uses it; with uvicorn's
own command line, pass `--http app.transport:BoundedHttpTools`):

- a request head (request line and headers) over MAX_HEAD_BYTES is answered 431 and its
  connection closed: httptools would buffer a head of any size (measured: a 50 MB header took
  the server from 115 to 266 MiB);
- a head not complete within HEAD_SECONDS of its first byte, or of the connection for a client
  that sends nothing, closes the connection: a client dripping its headers a byte at a time
  would otherwise hold a connection for ever ("slowloris")."""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.errors import error_bytes

MAX_HEAD_BYTES = 16 * 1024
HEAD_SECONDS = 10.0


class OversizedHead(Exception):
    """Raised from a parser callback: the head is over MAX_HEAD_BYTES."""


class BoundedHttpTools(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_bytes = 0
        self._in_head = True
        self._oversized = False
        self._head_timer: asyncio.TimerHandle | None = None
        self._start_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._start_head_timer()

    def on_headers_complete(self) -> None:
        self._in_head = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        # A head that arrived whole in one read is measured exactly here.
        if len(self.url) + sum(len(n) + len(v) for n, v in self.headers) > MAX_HEAD_BYTES:
            self._oversized = True
            raise OversizedHead  # stops the parser; uvicorn then calls send_400_response
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        if self._oversized:
            self._refuse_head()
        else:
            super().send_400_response(msg)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES:
            self._refuse_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        super().connection_lost(exc)

    def _start_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self._in_head and not self.transport.is_closing():
            self.transport.close()

    def _refuse_head(self) -> None:
        self._in_head, self._oversized = False, False
        if self.transport.is_closing():
            return
        body = error_bytes("header", f"request head over {MAX_HEAD_BYTES} bytes", "too_large")
        head = (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n" % len(body)
        )
        self.transport.write(head + body)
        self.transport.close()
