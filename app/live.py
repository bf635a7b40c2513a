"""Each case's live forecast: kept up to date by every write, read by every poll in one lookup.

A write (reports added or retracted) runs inside the transaction that stores it, with the case
locked: it adds the new reports' log-likelihoods to the stored per-indicator sums (takes a
retracted report's out), forecasts from the sums, and stores the forecast's JSON beside them.
A write therefore costs the same however many reports the case holds. When the stored sums are
missing or stale (a new day ages every report; a new catalog changes their terms) they are
rebuilt from the reports. Polls read the stored JSON; it is a function of the stored reports,
the date and the model, so every worker and replica serves the same bytes under one ETag.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import psycopg
from sqlalchemy import Connection, Row, and_, bindparam, delete, func, insert, select
from sqlalchemy import Engine as Database
from sqlalchemy import update as sa_update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter

from app import alerts
from app.alerts import ForecastChange
from app.forecasting import etag, known_on
from app.store import history
from app.store import reports as store
from app.store.cases import LOCK_COLUMNS, CaseHead, begin_writing, case_head, lock_case
from app.store.db import require_writable, unwritable
from app.store.tables import CaseRow, LiveForecastRow, NextForecastRow, ReportRow
from models.engine import Engine
from models.evidence import ReportLike, as_report, evidence_from_logs, report_log_likelihoods
from models.forecast import ForecastOut, Prior
from models.provenance import Provenance, combined_hash, evidence_hash, prior_key
from models.timeline import counts_on, end_of


@dataclass(frozen=True)
class Served:
    """A forecast as served: its strong ETag and its JSON."""

    etag: str
    payload: str


_LIVE_HEAD = (
    LiveForecastRow.evidence_on,
    LiveForecastRow.pinned,
    LiveForecastRow.artifact_id,
    LiveForecastRow.etag,
    LiveForecastRow.payload,
)
_POLL = (  # a poll's one read: the live row, and the row prepared from it if its day has come
    select(
        *_LIVE_HEAD,
        NextForecastRow.evidence_on,
        NextForecastRow.artifact_id,
        NextForecastRow.basis,
        NextForecastRow.etag,
        NextForecastRow.payload,
    )
    .select_from(LiveForecastRow)
    .outerjoin(
        NextForecastRow,
        and_(
            NextForecastRow.case_id == LiveForecastRow.case_id,
            ~LiveForecastRow.pinned,
            LiveForecastRow.evidence_on < bindparam("on"),  # the live row's day has gone by
            NextForecastRow.evidence_on == bindparam("on"),
        ),
    )
    .where(LiveForecastRow.case_id == bindparam("case_id"))
)
_PREPARED_AT = len(_LIVE_HEAD)  # where the prepared row's columns start in a `_POLL` row


def stored(database: Database, case_id: str, on: dt.date, artifact_id: str) -> Served | None:
    """The case's stored forecast if it is the one for `on` (today; a historical case's holds
    for its clock) from this model, or the one prepared for `on` from it as it stands
    (`app.day_ahead`): a primary-key read, no ORM. None when there is none yet (or it is
    stale): then `refresh`."""
    with database.connect() as connection:
        return stored_in(connection, case_id, on, artifact_id)


def stored_in(connection: Connection, case_id: str, on: dt.date, artifact_id: str) -> Served | None:
    """`stored`, read on the caller's connection."""
    return _served(
        connection.execute(_POLL, {"case_id": case_id, "on": on}).first(), on, artifact_id
    )


class LocalPolls:
    """`stored` for a SQLite database, read through the sqlite3 driver on one connection of
    its own: what every poll does, so it skips the pool and SQLAlchemy's transaction (measured:
    5 µs a read rather than 65 µs, a sixth of a 304's cost). The connection is in autocommit
    mode (`app.store.db`): each read sees the latest commit and holds no snapshot after it.
    Opened on the first read, in the thread that makes every read (the event loop's)."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._path = str(database.url.database)
        compiled = _POLL.compile(dialect=database.dialect)
        self._sql, self._order = str(compiled), compiled.positiontup or []
        date_type = LiveForecastRow.evidence_on.type.dialect_impl(database.dialect)
        self._from_date = date_type.bind_processor(database.dialect) or _as_is
        self._to_date = date_type.result_processor(database.dialect, None) or _as_is
        self._connection: Any = None

    def stored(self, case_id: str, on: dt.date, artifact_id: str) -> Served | None:
        given = {"case_id": case_id, "on": self._from_date(on)}
        row = self._read(self._sql, tuple(given[name] for name in self._order))
        if row is not None:  # its two dates as dates (SQLite keeps text)
            row = (
                self._to_date(row[0]),
                *row[1:_PREPARED_AT],
                self._to_date(row[_PREPARED_AT]),
                *row[_PREPARED_AT + 1 :],
            )
        return _served(row, on, artifact_id)

    def data_version(self) -> int:
        """SQLite's count of commits by any other connection (any process) since this one
        opened: it moves when anything is written (`app.notices.LocalNotices`)."""
        row = self._read("PRAGMA data_version", ())
        return int(row[0]) if row is not None else 0

    def _read(self, sql: str, parameters: tuple[Any, ...]) -> Sequence[Any] | None:
        """One row of `sql`, or None."""
        require_writable(self._path)  # before a connection is even handed out
        if self._connection is None:
            self._connection = self._database.raw_connection()
        try:
            row: Sequence[Any] | None = self._connection.driver_connection.execute(
                sql, parameters
            ).fetchone()
        except sqlite3.Error:  # a storage fault: the next read opens the file afresh,
            if unwritable(self._path) is None:  # if closing this one is safe
                self.close()
            raise
        return row

    def close(self) -> None:
        if self._connection is not None:
            self._connection.invalidate()
            self._connection = None


POLL_CONNECTIONS = 4
"""Connections a process keeps open for the polls of a PostgreSQL database (each read is one
round trip; a few let polls overlap their waits)."""


class NetworkPolls:
    """`stored` for a PostgreSQL database, read on the event loop through psycopg's own async
    connections, a few held open in autocommit mode: a poll is one round trip, with no pool
    checkout, no pre-ping and no hop to the thread pool (measured before: 377 µs in `stored`
    in a thread, 70 of them the pre-ping, plus the hop, where the query takes 76 µs on a held
    connection). A connection that fails is closed and the next read opens another; the
    failure is a storage fault (503)."""

    def __init__(self, database: Database, size: int = POLL_CONNECTIONS) -> None:
        self._conninfo = conninfo(database)
        self._sql = str(_POLL.compile(dialect=database.dialect))
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._slots = asyncio.Semaphore(size)

    async def stored(self, case_id: str, on: dt.date, artifact_id: str) -> Served | None:
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                row = await _fetch(connection, self._sql, {"case_id": case_id, "on": on})
            except BaseException:  # a fault, or a request cancelled mid-read: its state unknown
                await connection.close()
                raise
            self._idle.append(connection)
        return _served(row, on, artifact_id)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            return await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=5
            )
        except psycopg.Error as exc:
            raise OperationalError("connect", {}, exc) from exc

    async def close(self) -> None:
        while self._idle:
            await self._idle.pop().close()


async def _fetch(
    connection: psycopg.AsyncConnection[Any], sql: str, parameters: dict[str, Any]
) -> Any:
    try:
        return await (await connection.execute(sql, parameters)).fetchone()
    except psycopg.Error as exc:
        raise OperationalError(sql, parameters, exc) from exc


def conninfo(database: Database) -> str:
    """The database's address as psycopg itself takes it."""
    return database.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _as_is(value: Any) -> Any:
    return value


def _served(row: Sequence[Any] | None, on: dt.date, artifact_id: str) -> Served | None:
    """From a `_POLL` row: the live forecast if it holds on `on` (today; a historical case's
    holds for its clock) from this model, else the one prepared for `on` from the live row as
    it stands; None when neither."""
    if row is None:
        return None
    evidence_on, pinned, stored_artifact, tag, payload = row[:_PREPARED_AT]
    if stored_artifact == artifact_id and (pinned or evidence_on == on):
        return Served(tag, payload)
    prepared_on, prepared_by, basis, prepared_tag, prepared_payload = row[_PREPARED_AT:]
    if prepared_tag is not None and (prepared_on, prepared_by, basis) == (on, artifact_id, tag):
        return Served(prepared_tag, prepared_payload)
    return None


def refresh(session: Session, engine: Engine, case_id: str, today: dt.date) -> Served:
    """Bring the case's live forecast up to date, in a transaction of its own (404 for an
    unknown case)."""
    begin_writing(session)
    case = lock_case(session, case_id)
    served = update(session, engine, case, today)
    session.commit()
    return served


def refresh_stale(session: Session, engine: Engine, case_id: str, today: dt.date) -> None:
    """`refresh` the case's live forecast if it has one (it is stale: the caller has read it);
    a case without one gets it from its first write, with no history point for a forecast
    nobody was served."""
    has_row = session.execute(_LIVE_ETAG, {"case_id": case_id}).first() is not None
    session.rollback()
    if has_row:
        refresh(session, engine, case_id, today)


class Stale(Exception):
    """A write found its case's live forecast stale, with nothing prepared (its day has turned,
    a new catalog): it stored nothing, since bringing the sums up to date reads every report of
    the case, which would hold up every other write in the writer thread. `refresh`, then write
    again."""


@dataclass(frozen=True)
class Held:
    """What a write reads of its case before it writes: the live row, the sums that hold on
    the case's now (None: a rebuild is due), and the row prepared beside the live one, if it
    was read (the live row's day has gone by): `update` drops it, used or stale."""

    row: Row[Any] | None
    sums: _Sums | None
    ahead: Row[Any] | None = None

    @property
    def stale(self) -> bool:
        """Whether the case has a live forecast whose sums must be rebuilt (a case without one
        has none to rebuild: its first write makes it)."""
        return self.row is not None and self.sums is None


def held(session: Session, engine: Engine, case: CaseHead, today: dt.date) -> Held:
    """Within a write's transaction, the case locked: what `update` starts from, read and
    nothing changed (a write may yet be refused, or change nothing). The sums are the live
    row's if it is for the case's now, else those prepared for it from the live row as it
    stands (the next day's, which are then taken: their day has come)."""
    connection = session.connection()
    on = case.now(today)
    row = connection.execute(_LIVE_ROW, {"case_id": case.id}).first()
    if row is None:
        return Held(None, None)
    if (row.evidence_on, row.catalog_sha256) == (on, engine.catalog.fingerprint):
        return Held(row, _Sums.stored(row, engine))
    ahead = connection.execute(_NEXT_ROW, {"case_id": case.id}).first()
    if ahead is None or not _prepared_from(ahead, row, on, engine):
        return Held(row, None, ahead)
    return Held(row, _Sums.stored(ahead, engine), ahead)


def update(
    session: Session,
    engine: Engine,
    case: CaseHead,
    today: dt.date,
    added: Sequence[Row[Any]] = (),
    retracted: Sequence[Row[Any] | ReportRow] = (),
    before: Held | None = None,
) -> Served:
    """Within the caller's transaction, the case locked (`lock_case`) and `added` / `retracted`
    already written: update the evidence sums of the case's "now" (`today`, or a historical
    case's clock) from what it `held` before them (read now if not given), forecast, store,
    and add a history point if the reports, the prior or the model changed. The caller
    commits. Core statements: a write's hot path."""
    case_id, prior = case.id, case.prior
    on = case.now(today)
    before = held(session, engine, case, today) if before is None else before
    row = before.row
    if before.ahead is not None:  # used now, or stale
        session.connection().execute(_DROP_NEXT, {"case_id": case_id})
    # Only what counts on `on` moves its sums: a historical case's clock may be before
    # a report was known; the rest is left out until the clock reaches it.
    counted = [report for report in added if counts_on(report, on)]
    stopped = [report for report in retracted if _stopped_counting(report, on)]
    held_sums = before.sums
    if held_sums is not None:
        later = len(added) - len(counted) - sum(r.known_at >= end_of(on) for r in retracted)
        sums = held_sums.moved(engine, on, counted, stopped, later)
    else:  # rebuilt exactly as a replay of that date would be
        sums = _rebuilt(session, engine, case_id, prior, on)
    forecast, served = _forecast(engine, case_id, prior, on, sums)
    _store(session, engine, case, row, on, sums, forecast, served, counted, stopped)
    return served


def promote(session: Session, engine: Engine, case_ids: Sequence[str], today: dt.date) -> list[str]:
    """Make the forecasts prepared for today (`prepare`) these cases' live ones as they were
    prepared, their JSON and their sums (nothing is forecast again), in one transaction: the
    cases locked, their rows read and the prepared rows dropped a statement for them all, so
    that a midnight costs the database and the interpreter little per case. The cases left out,
    whose prepared row was not made from their live row as it stands (a write since, another
    model): for `refresh`. A case deleted meanwhile is neither."""
    begin_writing(session)
    connection = session.connection()
    ids = {"case_ids": sorted(case_ids)}  # locked in one order: no deadlock with another batch
    heads = {row.id: CaseHead(*row) for row in connection.execute(_LOCK_CASES, ids)}
    rows = {row.case_id: row for row in connection.execute(_LIVE_ROWS, ids)}
    aheads = {row.case_id: row for row in connection.execute(_NEXT_ROWS, ids)}
    made_live, left = [], []
    for case_id in case_ids:
        case, row, ahead = heads.get(case_id), rows.get(case_id), aheads.get(case_id)
        if case is None:
            continue
        on = case.now(today)
        if (
            row is None
            or ahead is None
            or not _prepared_from(ahead, row, on, engine)
            or ahead.artifact_id != engine.artifact.id  # its JSON is another model's
        ):
            left.append(case_id)
            continue
        forecast = ForecastOut.model_validate_json(ahead.payload)
        served = Served(ahead.etag, ahead.payload)
        _store(session, engine, case, row, on, _Sums.stored(ahead, engine), forecast, served)
        made_live.append(case_id)
    if made_live:
        connection.execute(_DROP_NEXTS, {"case_ids": made_live})
    session.commit()
    return left


def _store(
    session: Session,
    engine: Engine,
    case: CaseHead,
    row: Row[Any] | None,
    on: dt.date,
    sums: _Sums,
    forecast: ForecastOut,
    served: Served,
    counted: Sequence[Row[Any]] = (),
    stopped: Sequence[Row[Any] | ReportRow] = (),
) -> None:
    """Store the case's new live forecast in the caller's transaction (`row`: the live row
    before, if any): its alert rules stepped, a history point if its inputs changed, the write
    announced (PostgreSQL)."""
    connection = session.connection()
    moved = ForecastChange(
        case.id,
        None if row is None else row.payload,
        forecast,
        _cause(row, engine, on, bool(counted or stopped), case.pinned),
        counted,
        stopped,
        sums.present,
        sums.absent,
        case.prior,
    )
    alerts.evaluate(session, engine, moved)
    values = _columns(engine, on, sums, forecast, served) | {"pinned": case.pinned}
    if row is None:
        connection.execute(_INSERT_LIVE, {"case_id": case.id, **values})
    else:
        connection.execute(_UPDATE_LIVE, {"live_case_id": case.id, **values})
    history.record(connection, forecast, f"{sums.reports_hash}:{prior_key(case.prior)}")
    if connection.dialect.name == "postgresql":  # sent when the write commits: `app.notices`
        connection.execute(_ANNOUNCE, {"case_id": case.id})


def prepare(session: Session, engine: Engine, case_id: str, on: dt.date) -> bool:
    """Store the case's forecast for `on`, a day after its live row's, from its reports as they
    stand (`app.day_ahead`): rebuilt in a read, then stored in a short write of its own only if
    the live row is still the one it was read with (a write since makes the next pass prepare
    it again). False when it was not stored: no live row, a pinned one, or one changed since."""
    basis = session.execute(_LIVE_ROW, {"case_id": case_id}).first()
    if basis is None or basis.pinned or basis.evidence_on >= on:
        return False
    prior = case_head(session, case_id).prior
    sums = _rebuilt(session, engine, case_id, prior, on)
    session.rollback()  # the forecast is computed holding no snapshot, no lock
    forecast, served = _forecast(engine, case_id, prior, on, sums)
    begin_writing(session)
    lock_case(session, case_id)
    connection = session.connection()
    if connection.execute(_LIVE_ETAG, {"case_id": case_id}).scalar() != basis.etag:
        session.rollback()
        return False
    values = _columns(engine, on, sums, forecast, served) | {"basis": basis.etag}
    connection.execute(_DROP_NEXT, {"case_id": case_id})
    connection.execute(_INSERT_NEXT, {"case_id": case_id, **values})
    session.commit()
    return True


@dataclass(frozen=True)
class _Sums:
    """A case's evidence on a day: per indicator the summed log-likelihoods of its reports, which
    reports they are (`combined_hash`), how many count and how many are not known yet."""

    present: np.ndarray
    absent: np.ndarray
    reports_hash: str
    used: int
    left_out: int

    @classmethod
    def stored(cls, row: Row[Any], engine: Engine) -> _Sums:
        logs = np.array([row.log_likelihoods[indicator] for indicator in engine.catalog.ids])
        return cls(logs[:, 0], logs[:, 1], row.reports_hash, row.reports_used, row.reports_left_out)

    def moved(
        self,
        engine: Engine,
        on: dt.date,
        counted: Sequence[ReportLike],
        stopped: Sequence[ReportLike],
        later: int,
    ) -> _Sums:
        """These sums with `counted` reports added and `stopped` ones taken out, and `later`
        more reports stored that are not known on `on`."""
        present, absent = self.present, self.absent
        for sign, reports in ((1.0, counted), (-1.0, stopped)):
            if reports:  # a write adds or retracts: the other side is empty
                more_present, more_absent = _log_likelihoods(engine, reports, on)
                present, absent = present + sign * more_present, absent + sign * more_absent
        return _Sums(
            present,
            absent,
            combined_hash(self.reports_hash, counted, stopped),
            self.used + len(counted) - len(stopped),
            self.left_out + later,
        )


def _prepared_from(ahead: Row[Any], row: Row[Any], on: dt.date, engine: Engine) -> bool:
    """Whether the next row's sums hold on `on`: prepared for it, with this catalog, from the
    live `row` as it stands."""
    prepared_for = (ahead.evidence_on, ahead.catalog_sha256, ahead.basis)
    return prepared_for == (on, engine.catalog.fingerprint, row.etag)


def _rebuilt(session: Session, engine: Engine, case_id: str, prior: Prior, on: dt.date) -> _Sums:
    known = known_on(store.list_reports(session, case_id), on, prior)
    present, absent = _log_likelihoods(engine, known.reports, on)
    return _Sums(present, absent, known.reports_hash, len(known.reports), known.left_out)


def _forecast(
    engine: Engine, case_id: str, prior: Prior, on: dt.date, sums: _Sums
) -> tuple[ForecastOut, Served]:
    digest = evidence_hash(on, sums.reports_hash, prior)
    predicted = engine.forecast(evidence_from_logs(sums.present, sums.absent), prior)
    provenance = Provenance(on, digest, sums.used, sums.left_out)
    forecast = engine.record(predicted, case_id, provenance)
    payload = forecast.model_dump_json()
    return forecast, Served(etag(engine.artifact.id, payload), payload)


def _columns(
    engine: Engine, on: dt.date, sums: _Sums, forecast: ForecastOut, served: Served
) -> dict[str, Any]:
    """A day's evidence and forecast as a live or next row stores them (`_DayOfEvidence`)."""
    catalog = engine.catalog
    return {
        "evidence_on": on,
        "catalog_sha256": catalog.fingerprint,
        "reports_hash": sums.reports_hash,
        "reports_used": sums.used,
        "reports_left_out": sums.left_out,
        "log_likelihoods": {
            indicator: [float(sums.present[j]), float(sums.absent[j])]
            for j, indicator in enumerate(catalog.ids)
        },
        "artifact_id": engine.artifact.id,
        "etag": served.etag,
        "payload": served.payload,
        "means": {p.outcome: p.mean for p in forecast.probabilities},
    }


# Statements built once: their columns come from the parameters (cheaper than .values()).
_LIVE_ROW = select(*LiveForecastRow.__table__.columns).where(
    LiveForecastRow.case_id == bindparam("case_id")
)
_LIVE_ETAG = select(LiveForecastRow.etag).where(LiveForecastRow.case_id == bindparam("case_id"))
_INSERT_LIVE = insert(LiveForecastRow)
_UPDATE_LIVE = sa_update(LiveForecastRow).where(
    LiveForecastRow.case_id == bindparam("live_case_id")
)
_NEXT_ROW = select(*NextForecastRow.__table__.columns).where(
    NextForecastRow.case_id == bindparam("case_id")
)
_INSERT_NEXT = insert(NextForecastRow)
NOTICES = "escalation_forecasts"
"""The PostgreSQL channel each write of a live forecast notifies, with its case's id."""
_ANNOUNCE = select(func.pg_notify(NOTICES, bindparam("case_id")))
_DROP_NEXT = delete(NextForecastRow).where(NextForecastRow.case_id == bindparam("case_id"))
# The same reads and drop for a batch of cases (`promote`).
_SOME: BindParameter[str] = bindparam("case_ids", expanding=True)
_LOCK_CASES = LOCK_COLUMNS.where(CaseRow.id.in_(_SOME)).order_by(CaseRow.id).with_for_update()
_LIVE_ROWS = select(*LiveForecastRow.__table__.columns).where(LiveForecastRow.case_id.in_(_SOME))
_NEXT_ROWS = select(*NextForecastRow.__table__.columns).where(NextForecastRow.case_id.in_(_SOME))
_DROP_NEXTS = delete(NextForecastRow).where(NextForecastRow.case_id.in_(_SOME))


def _cause(
    row: Row[Any] | None, engine: Engine, on: dt.date, reports_changed: bool, pinned: bool
) -> str:
    """Why a case's forecast may have moved at a write (what an alert names): reports started
    or stopped counting, its day turned (or a pinned case's now moved: its clock, its
    resolution), the model or its catalog changed, else its prior."""
    if reports_changed or row is None:
        return "reports"
    if row.evidence_on != on:
        return "clock" if pinned else "ageing"
    if (row.artifact_id, row.catalog_sha256) != (engine.artifact.id, engine.catalog.fingerprint):
        return "model"
    return "prior"


def _stopped_counting(report: Row[Any] | ReportRow, on: dt.date) -> bool:
    """Whether a report just retracted counted on `on` (`counts_on`, as it stood before) and
    no longer does."""
    end = end_of(on)
    retracted_at = report.retracted_at
    counted = report.observed_on <= on and report.known_at < end
    return counted and retracted_at is not None and retracted_at < end


def _log_likelihoods(
    engine: Engine, reports: Sequence[ReportLike], on: dt.date
) -> tuple[np.ndarray, np.ndarray]:
    return report_log_likelihoods(engine.catalog, [as_report(r) for r in reports], on)
