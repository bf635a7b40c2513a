"""Writes announced by PostgreSQL, so that event streams need not poll.

Each write of a case's live forecast notifies `app.live.NOTICES` with the case's id (`NOTIFY`,
sent by the database when the write commits: `app.live.update`). One connection per process
listens and wakes the event streams of that case (`app.events`), whichever process or replica
wrote.
While it listens, the streams' watchers read only when woken (and every `FALLBACK_SECONDS`,
for what no write announces: a day's turn); while it does not, they poll as on SQLite.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

import psycopg
from psycopg.conninfo import make_conninfo

from app.background import Background
from app.live import NOTICES

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
                self._announced(False)
            await asyncio.sleep(RECONNECT_SECONDS)

    def _announced(self, listening: bool) -> None:
        if self._events.announced != listening:
            self._events.announced = listening
            self._events.heard(None)

    async def _listen(self) -> None:
        connection = await psycopg.AsyncConnection.connect(
            make_conninfo(self._conninfo, **KEEPALIVES), autocommit=True, connect_timeout=5
        )
        async with connection:
            await connection.execute(f"LISTEN {NOTICES}")
            self._announced(True)
            async for notice in connection.notifies():
                self._events.heard(notice.payload)
