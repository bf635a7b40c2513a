"""Writes announced by the database, so that event streams need not poll every case.

Each write of a case's live forecast notifies `app.live.NOTICES` with the case's id (`NOTIFY`,
sent by the database when the write commits: `app.live.update`). One connection per process
listens and wakes the event streams of that case (`app.events`), whichever process or replica
wrote.
While it listens, the streams' watchers read only when woken (and every `FALLBACK_SECONDS`,
for what no write announces: a day's turn); while it does not, they poll every case.

SQLite announces nothing, but counts commits: `LocalNotices` reads that count (one read per
`POLL_SECONDS` for the whole process, not one per watched case) and wakes every stream's watcher
when it has moved, whichever process wrote.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Protocol

import psycopg
from psycopg.conninfo import make_conninfo

from app.background import Background
from app.events import POLL_SECONDS
from app.live import NOTICES, LocalPolls

RECONNECT_SECONDS = 1.0
# A listener on a silent network learns that its server is gone from TCP keepalives.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}

log = logging.getLogger(__name__)


class Hearing(Protocol):
    """What a listener tells (`app.events.ForecastEvents`)."""

    announced: bool

    def heard(self, case_id: str | None) -> None: ...


class Notices(Background):
    """The process's listener, telling `events` of each notice; while it listens,
    `events.announced` is true (each change of it is heard as `heard(None)`: whatever was
    announced meanwhile went unheard)."""

    def __init__(self, conninfo: str, events: Hearing) -> None:
        self._conninfo = conninfo
        self._events = events

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError) as exc:
                log.warning("not listening for the database's notices: %s", exc)
            finally:
                _announce(self._events, False)
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen(self) -> None:
        connection = await psycopg.AsyncConnection.connect(
            make_conninfo(self._conninfo, **KEEPALIVES), autocommit=True, connect_timeout=5
        )
        async with connection:
            await connection.execute(f"LISTEN {NOTICES}")
            _announce(self._events, True)
            async for notice in connection.notifies():
                self._events.heard(notice.payload)


class LocalNotices(Background):
    """SQLite's side: `PRAGMA data_version` read every `POLL_SECONDS` on the polls' connection
    (on the event loop, like every poll); when it moves, every watched case is read."""

    def __init__(self, polls: LocalPolls, events: Hearing) -> None:
        self._polls = polls
        self._events = events

    async def _run(self) -> None:
        seen: int | None = None
        while True:
            try:
                version = self._polls.data_version()
            except sqlite3.Error as exc:  # a storage fault: the watchers poll meanwhile
                if _announce(self._events, False):
                    log.warning("not reading SQLite's count of commits: %s", exc)
                seen = None
            else:
                if not _announce(self._events, True) and version != seen:
                    self._events.heard(None)
                seen = version
            await asyncio.sleep(POLL_SECONDS)


def _announce(events: Hearing, listening: bool) -> bool:
    """Tell `events` whether writes are announced; whether that changed (then every watcher
    has been woken)."""
    if events.announced == listening:
        return False
    events.announced = listening
    events.heard(None)
    return True
