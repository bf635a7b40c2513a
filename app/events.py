"""Server-sent events: every open page learns of a new forecast within a second, whichever
worker or replica stored it, and of what changed with it.

The forecast is a function of what is stored, so a change is seen by reading it: per process,
one watcher task per watched case reads the case's stored forecast (one primary-key read,
however many pages watch) and wakes the case's streams when its ETag changes. It reads when
PostgreSQL announces a write of the case (`app.notices`), else every `POLL_SECONDS`.
It then reads, in one snapshot with the new forecast, what the writes changed since the last
one (`app.store.changes`: history points, reports added or retracted), sent as an
`event: changes` just before the forecast to each stream whose last forecast it leads from: a
page adds them to its lists instead of reading them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from app.live import Served
from app.store.changes import Cursor

POLL_SECONDS = 0.5
FALLBACK_SECONDS = 30.0
"""How often a watcher reads while the database announces writes (`app.notices`): for what no
write announces, a day's turn."""
KEEP_ALIVE_SECONDS = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""
MAX_STREAM_SECONDS = 600.0
"""A stream ends after this (the browser reconnects at once, `RETRY_MS`): an open stream would
otherwise hold up a graceful shutdown for as long as the page stays open."""
RETRY_MS = 2000

log = logging.getLogger(__name__)

type Current = Callable[[str], Awaitable[Served]]


@dataclass(frozen=True)
class Seen:
    """A case read in one snapshot: its stored forecast (None: stale), what changed since the
    cursor it was read from (JSON members, None: unknown) and where its record stands."""

    served: Served | None
    changes: str | None
    cursor: Cursor


type Changes = Callable[[str, Cursor | None], Awaitable[Seen]]


@dataclass
class _Channel:
    """One case's latest forecast, what changed to it from the one before (`since`), and an
    event set (then replaced) when it changes."""

    latest: Served
    since: str | None = None  # the ETag `changes` lead from
    changes: str | None = None
    cursor: Cursor | None = None  # where the case's record stood at `latest`
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    woken: asyncio.Event = field(default_factory=asyncio.Event)  # a write was announced
    streams: int = 0
    watcher: asyncio.Task[None] | None = None

    def publish(self, served: Served, changes: str | None = None) -> None:
        if served.etag != self.latest.etag:
            self.since, self.changes = self.latest.etag, changes
            self.latest, changed = served, self.changed
            self.changed = asyncio.Event()
            changed.set()


class ForecastEvents:
    """The event streams of one process."""

    def __init__(self, current: Current, changes: Changes) -> None:
        self._current = current
        self._changes = changes
        self._channels: dict[str, _Channel] = {}
        self.announced = False  # whether writes are being announced (`heard`)

    def heard(self, case_id: str | None) -> None:
        """A write of the case was announced; None: every case's may have been (announcements
        start or stop: `announced` says which)."""
        channels = self._channels.values() if case_id is None else [self._channels.get(case_id)]
        for channel in channels:
            if channel is not None:
                channel.woken.set()

    async def stream(
        self, case_id: str, now: Served, last_event_id: str | None
    ) -> AsyncIterator[str]:
        """The case's forecast events in the text/event-stream format: `now`, the forecast the
        caller has just read (unless the client has it: `Last-Event-ID`), then one event per
        change, each after the changes that lead to it from the one sent before (if known)."""
        channel = self._join(case_id, now)
        try:
            yield f"retry: {RETRY_MS}\n\n"
            sent = last_event_id
            deadline = asyncio.get_running_loop().time() + MAX_STREAM_SECONDS
            while asyncio.get_running_loop().time() < deadline:
                changed = channel.changed
                if channel.latest.etag != sent:
                    if sent is not None and channel.since == sent and channel.changes is not None:
                        yield _changes_event(sent, channel.latest.etag, channel.changes)
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
            try:
                await self._look(case_id, channel)
            except Exception:  # a database hiccup must not end every page's stream
                log.exception("reading the forecast of %s for its event streams", case_id)
            wait = FALLBACK_SECONDS if self.announced else POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(channel.woken.wait(), wait)
            channel.woken.clear()  # what was announced until now, the next look reads

    async def _look(self, case_id: str, channel: _Channel) -> None:
        """Publish the case's forecast if it changed, with what changed when it can tell."""
        if channel.cursor is not None:
            served = await self._current(case_id)  # the cheap read, every time
            if served.etag == channel.latest.etag:
                return
        seen = await self._changes(case_id, channel.cursor)
        if seen.served is None:  # stale: brought up to date, sent without its changes
            channel.publish(await self._current(case_id))
        else:
            channel.publish(seen.served, seen.changes)
        channel.cursor = seen.cursor

    async def close(self) -> None:
        for channel in list(self._channels.values()):
            if channel.watcher is not None:
                channel.watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await channel.watcher
        self._channels.clear()


def _event(served: Served) -> str:
    return f"event: forecast\nid: {served.etag}\ndata: {served.payload}\n\n"


def _changes_event(since: str, until: str, changes: str) -> str:
    """No `id`: a client resumes from the forecast it last had, not from its changes."""
    data = f'{{"since":{json.dumps(since)},"until":{json.dumps(until)},{changes}}}'
    return f"event: changes\ndata: {data}\n\n"
