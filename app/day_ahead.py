"""The next day's forecasts, prepared ahead: UTC midnight rebuilds nothing.

A case's live forecast holds for one day (its reports age overnight), so at midnight every live
row goes stale at once; rebuilt on demand, 10,000 cases took a minute or more, while polls
waited and a busy case's rebuild ran inside the writer thread. Instead, in the last hours of
each day each process's `DayAhead` rebuilds each live case's forecast for tomorrow, a case at a
time, and stores it beside its live row (`app.live.prepare`). From midnight polls serve the
prepared forecast and writes add to its sums; then the same task makes each prepared row live
as prepared (`app.live.promote`: alerts see the day's ageing), a batch at a time.
A write after a case's row was prepared makes it stale: the next pass prepares it again.

All of it runs in a thread of its own, never the writer's, and works a tenth of the time.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import logging
import time
from collections.abc import Callable

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from app import live
from app.background import Background
from app.store.cases import begin_writing
from app.store.tables import LiveForecastRow, NextForecastRow
from models.engine import Engine
from models.errors import NotFoundError

PREPARE_HOURS = 2.0
"""How long before UTC midnight tomorrow's forecasts start being prepared."""
BATCH = 20
"""Cases prepared or made live in one turn of the thread."""
LIVE_TOGETHER = 4
"""Cases made live in one transaction: its commit is where the thread waits, leaving the
interpreter to the event loop (twenty in one held it long enough to slow polls at midnight)."""
DUTY = 0.1
"""The share of the time the thread works: it rests nine times as long as each turn took (it
competes with the event loop for the interpreter, and polls serve prepared rows meanwhile).
At 10,000 cases the two hours before midnight leave room for a tenth of the time, and the
batches made live after it cost little per case (`app.live.promote`)."""
IDLE_SECONDS = 30.0
"""How long the task rests when there is nothing to do (a day's turn is seen this late)."""

log = logging.getLogger(__name__)

type Work = Callable[[Session, Engine, str, dt.date], object]


class DayAhead(Background):
    """Prepares tomorrow's forecasts before midnight and makes them live after it, for one
    process (every process may run one: each step checks what the others have done)."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        engine: Engine,
        prepare_hours: float = PREPARE_HOURS,
    ) -> None:
        self._sessions = sessions
        self._engine = engine
        self._ahead = dt.timedelta(hours=prepare_hours)
        self._failed: set[tuple[str, dt.date]] = set()  # not tried again that day

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            try:
                done = await asyncio.to_thread(self.step, dt.datetime.now(dt.UTC))
            except Exception:  # a database hiccup: try again later, the service stays up
                log.exception("preparing tomorrow's forecasts")
                done = 0
            worked = time.perf_counter() - started
            await asyncio.sleep(worked * (1 / DUTY - 1) if done else IDLE_SECONDS)

    def step(self, now: dt.datetime) -> int:
        """One turn at `now`: make up to `BATCH` prepared forecasts whose day has come live,
        else (in the last `prepare_hours` of the day) prepare up to `BATCH` for tomorrow. How
        many cases it did."""
        today = now.date()
        with self._sessions() as session:
            due = self._due(session, today)
            if due:
                return self._make_live(session, due, today)
            _forget_before(session, today)
            if now + self._ahead < dt.datetime.combine(today, dt.time(), dt.UTC) + DAY:
                return 0
            return self._prepare(session, today + DAY)

    def _due(self, session: Session, today: dt.date) -> list[str]:
        """Cases whose forecast was prepared for today while their live row is older."""
        query = (
            select(NextForecastRow.case_id)
            .join(LiveForecastRow, LiveForecastRow.case_id == NextForecastRow.case_id)
            .where(NextForecastRow.evidence_on == today, LiveForecastRow.evidence_on < today)
            .where(NextForecastRow.case_id.not_in(self._failed_on(today)))
            .limit(BATCH)
        )
        return list(session.scalars(query))

    def _make_live(self, session: Session, due: list[str], today: dt.date) -> int:
        """Make the prepared forecasts of `due` live a few together (those prepared before a
        write are rebuilt); should that fail, a case at a time, so that a faulty one is left
        alone."""
        left: list[str] = []
        for together in itertools.batched(due, LIVE_TOGETHER):
            session.rollback()
            try:
                left += live.promote(session, self._engine, together, today)
            except Exception:
                log.warning("%d prepared forecasts could not be made live together", len(together))
                session.rollback()
                for case_id in together:
                    self._each(session, _promote, case_id, today)
        for case_id in left:
            self._each(session, live.refresh, case_id, today)
        return len(due)

    def _prepare(self, session: Session, tomorrow: dt.date) -> int:
        """Prepare tomorrow's forecast of up to `BATCH` live cases that have none, or a stale
        one (a write since, another model)."""
        artifact_id = self._engine.artifact.id
        stale = or_(
            NextForecastRow.case_id.is_(None),
            NextForecastRow.evidence_on != tomorrow,
            NextForecastRow.basis != LiveForecastRow.etag,
            NextForecastRow.artifact_id != artifact_id,
        )
        query = (
            select(LiveForecastRow.case_id)
            .outerjoin(NextForecastRow, NextForecastRow.case_id == LiveForecastRow.case_id)
            .where(LiveForecastRow.evidence_on == tomorrow - DAY, ~LiveForecastRow.pinned)
            .where(LiveForecastRow.artifact_id == artifact_id, stale)
            .where(LiveForecastRow.case_id.not_in(self._failed_on(tomorrow)))
            .limit(BATCH)
        )
        cases = list(session.scalars(query))
        for case_id in cases:
            self._each(session, live.prepare, case_id, tomorrow)
        return len(cases)

    def _failed_on(self, on: dt.date) -> list[str]:
        return [case_id for case_id, day in self._failed if day == on]

    def _each(self, session: Session, work: Work, case_id: str, on: dt.date) -> None:
        """`work` on one case in a transaction of its own; a case that fails is logged and
        left to the polls and writes that day."""
        session.rollback()
        try:
            work(session, self._engine, case_id, on)
        except NotFoundError:  # deleted meanwhile
            pass
        except Exception:
            log.exception("the forecast of %s for %s could not be prepared", case_id, on)
            self._failed = {(c, day) for c, day in self._failed if day >= on} | {(case_id, on)}
            session.rollback()


DAY = dt.timedelta(days=1)


def _promote(session: Session, engine: Engine, case_id: str, today: dt.date) -> None:
    """One case's prepared forecast made live as it is, else (a write since) rebuilt."""
    if live.promote(session, engine, [case_id], today):
        live.refresh(session, engine, case_id, today)


def _forget_before(session: Session, today: dt.date) -> None:
    """Drop forecasts prepared for a day gone by (the process was down when it came)."""
    gone = NextForecastRow.evidence_on < today
    if session.scalar(select(exists().where(gone))):
        session.rollback()
        begin_writing(session)
        session.execute(delete(NextForecastRow).where(gone))
        session.commit()
    session.rollback()
