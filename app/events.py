"""Server-sent events: every open page learns of a new forecast within a second, whichever
worker or replica stored it.

The forecast is a function of what is stored, so a change is seen by reading it: per process,
one watcher task per watched case reads the case's stored forecast every `POLL_SECONDS` (one
primary-key read, however many pages watch) and wakes the case's streams when its ETag changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from app.live import Served

POLL_SECONDS = 0.5
KEEP_ALIVE_SECONDS = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""
MAX_STREAM_SECONDS = 600.0
"""A stream ends after this (the browser reconnects at once, `RETRY_MS`): an open stream would
otherwise hold up a graceful shutdown for as long as the page stays open."""
RETRY_MS = 2000

log = logging.getLogger(__name__)

type Current = Callable[[str], Awaitable[Served]]


@dataclass
class _Channel:
    """One case's latest forecast, and an event set (then replaced) when it changes."""

    latest: Served
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    streams: int = 0
    watcher: asyncio.Task[None] | None = None

    def publish(self, served: Served) -> None:
        if served.etag != self.latest.etag:
            self.latest, changed = served, self.changed
            self.changed = asyncio.Event()
            changed.set()


class ForecastEvents:
    """The event streams of one process."""

    def __init__(self, current: Current) -> None:
        self._current = current
        self._channels: dict[str, _Channel] = {}

    async def stream(
        self, case_id: str, now: Served, last_event_id: str | None
    ) -> AsyncIterator[str]:
        """The case's forecast events in the text/event-stream format: `now`, the forecast the
        caller has just read (unless the client has it: `Last-Event-ID`), then one event per
        change."""
        channel = self._join(case_id, now)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            sent = last_event_id
            deadline = asyncio.get_running_loop().time() + MAX_STREAM_SECONDS
            while asyncio.get_running_loop().time() < deadline:
                changed = channel.changed
                if channel.latest.etag != sent:
                    sent = channel.latest.etag
                    yield _event(channel.latest)
                try:
                    await asyncio.wait_for(changed.wait(), KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            self._leave(case_id, channel)

    def _join(self, case_id: str, now: Served) -> _Channel:
        # A case already watched keeps its watcher's latest: `now` may be older than that.
        channel = self._channels.setdefault(case_id, _Channel(now))
        channel.streams += 1
        if channel.watcher is None:
            channel.watcher = asyncio.create_task(self._watch(case_id, channel))
        return channel

    def _leave(self, case_id: str, channel: _Channel) -> None:
        channel.streams -= 1
        if channel.streams == 0 and channel.watcher is not None:
            channel.watcher.cancel()
            del self._channels[case_id]

    async def _watch(self, case_id: str, channel: _Channel) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                channel.publish(await self._current(case_id))
            except Exception:  # a database hiccup must not end every page's stream
                log.exception("reading the forecast of %s for its event streams", case_id)

    async def close(self) -> None:
        for channel in list(self._channels.values()):
            if channel.watcher is not None:
                channel.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await channel.watcher
        self._channels.clear()


def _event(served: Served) -> str:
    return f"event: forecast\nid: {served.etag}\ndata: {served.payload}\n\n"
