"""The forecast service of one process: the model, the store and everything that serves from
them, built once by the app's lifespan and reached by every route through one dependency
(`app.api.deps.ServiceDep`).

A POST's way: `routes/reports.py` checks the body and hands it to `ForecastService.post`; the
report writer (`app/writer.py`) stores it in its group's transaction and brings the case's live
forecast up to date (`app/live.py`), which the answer carries. A DELETE takes the same way
(`ForecastService.retract`): one writer thread per process does every write of reports.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi.concurrency import run_in_threadpool
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine as Database
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app import live
from app.alerts import AlertDelivery
from app.day_ahead import DayAhead
from app.events import ForecastEvents, Seen
from app.forecasting import etag, forecast_from, from_scenario, known_on, today, with_reports
from app.limits import CostlyWork
from app.live import LocalPolls, NetworkPolls, Served, conninfo
from app.metrics import CaseGauges
from app.notices import LocalNotices, Notices
from app.scenarios import ScenarioReader
from app.schemas import ReportIn, ReportOut, WhatIfIn
from app.security import WrongTokens
from app.settings import Settings
from app.store import changes, keys
from app.store import reports as store
from app.store.cases import CaseHead, begin_writing, case_head
from app.store.changes import Cursor
from app.store.db import (
    StorageProbe,
    migrate,
    open_database,
    sessions,
    snapshot,
    sqlite_path,
    unwritable,
)
from app.timeline import PastModels, PointCache
from app.writer import ReportWriter, ThreadWriter, Written
from app.writer_process import ProcessWriter
from models.artifact import keep_archived
from models.engine import Engine
from models.errors import ArtifactError, EvidenceError, NotFoundError
from models.forecast import ForecastOut

log = logging.getLogger("escalation")

type Build = Callable[[Session, CaseHead, list[Row[Any]]], str]
"""A replay's JSON from the session, the case and its reports (a timeline, a decomposition)."""


@dataclass
class ForecastService:
    """What the routes serve from: the settings, the database, the loaded model (or why there
    is none), the report writer, the limits on costly work, the caches of replays, the
    scenario reader, the event streams and the alerts' delivery."""

    settings: Settings
    wrong_tokens: WrongTokens
    metrics: CollectorRegistry
    database: Database
    sessions: Callable[[], Session]
    storage: StorageProbe
    local_polls: LocalPolls | None
    network_polls: NetworkPolls | None
    writer: ReportWriter | None  # None without a model: nothing can be written
    engine: Engine | None
    engine_error: str | None
    past_models: PastModels
    scenarios: ScenarioReader
    costly_work: CostlyWork = field(default_factory=CostlyWork)
    replays: CostlyWork = field(default_factory=lambda: CostlyWork(running=2, waiting=32))
    timeline_points: PointCache = field(default_factory=PointCache)
    events: ForecastEvents = field(init=False)
    notices: Notices | LocalNotices | None = field(init=False, default=None)
    day_ahead: DayAhead | None = field(init=False)
    case_gauges: CaseGauges = field(init=False)
    alerts: AlertDelivery = field(init=False)

    @classmethod
    def open(
        cls, settings: Settings, wrong_tokens: WrongTokens, metrics: CollectorRegistry
    ) -> ForecastService:
        """Bring the schema up to date, store the configured token as the first admin key,
        load the model (a missing or invalid artifact leaves the service up, not ready), and
        start the writer, the event streams and the alerts' delivery."""
        database = open_database(settings.database_url)
        migrate(database)
        opened = sessions(database)
        if settings.write_token is not None:
            first_admin_key(opened, settings.write_token.get_secret_value())
        engine, error = _load_model(settings)
        service = cls(
            settings,
            wrong_tokens,
            metrics,
            database,
            opened,
            StorageProbe(database),
            LocalPolls(database) if database.dialect.name == "sqlite" else None,
            NetworkPolls(database) if database.dialect.name == "postgresql" else None,
            _writer(settings, database, opened, engine),
            engine,
            error,
            PastModels(settings.artifact_path),
            ScenarioReader(settings.catalog_path),
        )
        service.events = ForecastEvents(service.now_served, service.changes)
        if database.dialect.name == "postgresql":
            service.notices = Notices(conninfo(database), service.events)
        elif service.local_polls is not None:
            service.notices = LocalNotices(service.local_polls, service.events)
        if service.notices is not None:
            service.notices.start()
        service.case_gauges = CaseGauges(opened)
        # Without a model no forecast ages: only what is in the outbox is delivered.
        ageing = service.now_served if engine is not None else None
        service.alerts = AlertDelivery(settings, database, opened, ageing)
        service.alerts.start()
        service.day_ahead = DayAhead(opened, engine) if engine is not None else None
        if service.day_ahead is not None:
            service.day_ahead.start()
        return service

    async def close(self) -> None:
        if self.day_ahead is not None:
            await self.day_ahead.close()
        await self.alerts.close()
        if self.notices is not None:
            await self.notices.close()
        await self.events.close()
        if self.network_polls is not None:
            await self.network_polls.close()
        self.scenarios.close()
        if self.writer is not None:
            self.writer.close()
        close_database(self.database, self.local_polls)

    def model(self) -> Engine:
        """The loaded model; a 503 (via ArtifactError) while no valid artifact is loaded."""
        if self.engine is None:
            raise ArtifactError(self.engine_error or "model not loaded")
        return self.engine

    # -- reads ---------------------------------------------------------------------------

    async def current(self, engine: Engine, case_id: str, on: dt.date) -> Served:
        """Today's forecast: the stored one, else brought up to date (off the event loop). 404
        for an unknown case. What a poll and an event stream serve."""
        stored = await self._stored(engine, case_id, on)
        if stored is not None:
            return stored
        return await run_in_threadpool(self._refresh, engine, case_id, on)

    async def _stored(self, engine: Engine, case_id: str, on: dt.date) -> Served | None:
        artifact_id = engine.artifact.id
        if self.local_polls is not None:
            # One row by primary key from a local WAL database: microseconds that never wait
            # for a writer. A hop to the thread pool costs more than the read (measured: the
            # poll rate doubles without it). PostgreSQL through its async driver.
            return self.local_polls.stored(case_id, on, artifact_id)
        if self.network_polls is not None:
            return await self.network_polls.stored(case_id, on, artifact_id)
        return await run_in_threadpool(live.stored, self.database, case_id, on, artifact_id)

    async def changes(self, case_id: str, cursor: Cursor | None) -> Seen:
        """In one snapshot: the case's stored forecast now (None: stale), what changed since
        `cursor` (`app.store.changes`; None without a cursor or past its bound) and where its
        record stands. For the event streams."""
        artifact_id, on = self.model().artifact.id, today()

        def read() -> Seen:
            with snapshot(self.database) as connection:
                served = live.stored_in(connection, case_id, on, artifact_id)
                if cursor is None:
                    return Seen(served, None, changes.cursor_of(connection, case_id))
                return Seen(served, *changes.since(connection, case_id, cursor))

        return await run_in_threadpool(read)

    def now_served(self, case_id: str) -> Awaitable[Served]:
        """The case's forecast now, for the event streams and the alerts' ageing."""
        return self.current(self.model(), case_id, today())

    async def replay(self, engine: Engine, case_id: str, as_of: dt.date) -> Served:
        """The forecast with the reports known at the end of `as_of` (not stored)."""
        return await run_in_threadpool(self._replay, engine, case_id, as_of)

    async def replayed(self, engine: Engine, case_id: str, build: Build) -> Served:
        """`build`'s JSON from the case and its reports, computed off the event loop a few at
        a time (429 while many wait), with an ETag of its own."""

        def run() -> str:
            with self.sessions() as session:
                case = case_head(session, case_id)
                return build(session, case, store.list_reports(session, case_id))

        async with self.replays.slot():
            payload = await run_in_threadpool(run)
        return Served(etag(engine.artifact.id, payload), payload)

    async def what_if(self, engine: Engine, case_id: str, body: WhatIfIn) -> ForecastOut:
        """The live reports plus hypothetical ones, or a scenario's own reports and date (read
        in the scenario worker, one at a time: 429 while many wait). Nothing is stored."""

        def live_and(reports: list[ReportIn]) -> ForecastOut:
            with self.sessions() as session:
                case = case_head(session, case_id)
                return with_reports(engine, case, reports, store.list_reports(session, case_id))

        if body.scenario is None:
            return await run_in_threadpool(live_and, body.reports)
        case = await run_in_threadpool(self._case, case_id)  # 404 before reading the scenario
        if body.reports:
            raise EvidenceError("body.reports", "give reports or a scenario, not both")
        async with self.costly_work.slot():
            loaded = await self.scenarios.read(body.scenario, "body.scenario")
        return await run_in_threadpool(from_scenario, engine, case, loaded)

    # -- writes: one report writer per process (`settings.writer`) ---------------------------

    async def post(
        self, engine: Engine, case_id: str, reports: Sequence[ReportIn], on: dt.date, secret: str
    ) -> Written:
        """Store `reports` (all or nothing) if the key with this secret may write, and return
        them with the case's new forecast (`app.writer`)."""
        return await self._despite_stale(
            engine,
            case_id,
            on,
            lambda rebuild: self._writer().write(case_id, reports, on, secret, rebuild),
        )

    async def retract(
        self, engine: Engine, case_id: str, report_id: int, at: dt.datetime, actor: str
    ) -> ReportOut:
        """Retract a report from `at` (by `actor`), bringing the forecast up to date."""
        on = today()
        return await self._despite_stale(
            engine,
            case_id,
            on,
            lambda rebuild: self._writer().retract(case_id, report_id, at, on, actor, rebuild),
        )

    async def _despite_stale[T](
        self,
        engine: Engine,
        case_id: str,
        on: dt.date,
        write: Callable[[bool], Awaitable[T]],
    ) -> T:
        """`write(rebuild=False)`; should it find the case's live forecast stale (`live.Stale`:
        its day has turned with nothing prepared, a new catalog), bring that up to date here in
        the thread pool (a rebuild reads every report of the case, and in the writer thread it
        would hold up every other write), then `write(rebuild=True)`: allowed to rebuild should
        the forecast have gone stale once more meanwhile (a rare race: it cannot wait for ever)."""
        try:
            return await write(False)
        except live.Stale:
            pass

        def refresh() -> None:
            with self.sessions() as session:
                live.refresh_stale(session, engine, case_id, on)

        with contextlib.suppress(NotFoundError):  # the writer answers for an unknown case
            await run_in_threadpool(refresh)
        return await write(True)

    def _writer(self) -> ReportWriter:
        if self.writer is None:
            raise ArtifactError(self.engine_error or "model not loaded")
        return self.writer

    def _case(self, case_id: str) -> CaseHead:
        with self.sessions() as session:
            return case_head(session, case_id)

    def _refresh(self, engine: Engine, case_id: str, on: dt.date) -> Served:
        with self.sessions() as session:
            return live.refresh(session, engine, case_id, on)

    def _replay(self, engine: Engine, case_id: str, as_of: dt.date) -> Served:
        with self.sessions() as session:
            prior = case_head(session, case_id).prior
            known = known_on(store.list_reports(session, case_id), as_of, prior)
        payload = forecast_from(engine, case_id, known).model_dump_json()
        return Served(etag(engine.artifact.id, payload), payload)


def _writer(
    settings: Settings, database: Database, opened: Callable[[], Session], engine: Engine | None
) -> ReportWriter | None:
    if engine is None:
        return None
    if settings.writer == "process":
        return ProcessWriter(settings, engine, database)
    return ThreadWriter(opened, engine)


def _load_model(settings: Settings) -> tuple[Engine | None, str | None]:
    """The model at the configured path, kept in the archive; or why it cannot be served."""
    try:
        engine = Engine.load(settings.artifact_path, settings.catalog_path, settings.reference_path)
    except ArtifactError as exc:
        log.error("not ready: %s", exc)
        return None, str(exc)
    archive(engine, settings.artifact_path)
    return engine, None


def first_admin_key(open_session: Callable[[], Session], secret: str) -> None:
    """Store the configured token as an admin key named "admin", unless it is a key already
    (several workers starting at once: one of them stores it). The write lock is taken before
    the key is looked for: on SQLite, a read that then writes fails at once ("database is
    locked") when another worker has written since the read began, and the worker with it."""
    with open_session() as session:
        begin_writing(session)
        try:
            keys.ensure_key(session, secret, "admin", "admin")
        except IntegrityError:
            session.rollback()


def archive(engine: Engine, path: Path) -> None:
    """Keep the served model in the artifact archive, so that what it served can be replayed
    after the next fit; a read-only model directory loses only that."""
    try:
        keep_archived(engine.artifact, path)
    except OSError as exc:
        log.warning("cannot keep %s in the archive (%s)", engine.artifact.id, exc)


def close_database(database: Database, local_polls: LocalPolls | None) -> None:
    """Close every connection, unless a SQLite file cannot be written: closing would then kill
    the process with SIGBUS (`app.store.db.require_writable`), and its end closes them anyway."""
    path = sqlite_path(database)
    if path is not None and (stuck := unwritable(path)) is not None:
        log.error("leaving the database's connections open at exit: %s cannot be written", stuck)
        return
    if local_polls is not None:
        local_polls.close()
    database.dispose()
