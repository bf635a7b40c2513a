"""Posted reports are written in groups (group commit), by one report writer per process.

A POST is checked on the event loop and handed to the writer; while the writer is busy, POSTs
wait in its queue, and it then writes all of them together: one transaction, one forecast per
case, one commit (one fsync). Under load a POST therefore costs its share of a commit and of a
forecast rather than the whole of each; alone, it is written at once. Each answer carries the
forecast after its group, which includes its own reports. The forecasting (CPU) and the database
work stay off the event loop, and no pool of request threads contends for the interpreter.

The writing side (`serve`, `Writes`) runs on a thread of the serving process (`ThreadWriter`) or
in a process of its own (`app.writer_process`, the default); the asking side (`ReportWriter`)
is the same for both.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime as dt
import itertools
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import HTTPException
from sqlalchemy import Row
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from app import alerts, live
from app.access import judge
from app.forecasting import check_period
from app.live import Served
from app.schemas import ReportIn, ReportOut, reports_json
from app.store import keys
from app.store import reports as store
from app.store.cases import CaseHead, begin_writing, lock_case
from models.engine import Engine
from models.errors import EvidenceError, InputError, NotFoundError


@dataclass(frozen=True)
class Written:
    """What a POST answers: its reports as stored (as JSON, serialised by the writer), and its
    case's forecast after the group."""

    reports: str
    forecast: Served


@dataclass
class _Retract:
    token: int  # which request it answers
    case_id: str
    report_id: int
    at: dt.datetime  # from when it stops counting
    on: dt.date
    actor: str
    rebuild: bool  # bring a stale forecast up to date here rather than refuse (`live.Stale`)


@dataclass
class _Post:
    token: int
    case_id: str
    reports: Sequence[ReportIn]
    on: dt.date
    secret: str  # the bearer token sent, looked up in the write's transaction
    rebuild: bool  # as a retraction's
    actor: str = ""  # the key's name, once judged


type Job = _Post | _Retract
type Outcome = Written | ReportOut | Exception
type Answers = list[tuple[int, Outcome]]
"""Each job's token and what it answers."""


class WriterStopped(Exception):
    """The report writer's process ended before answering (the write may have been stored: a
    retry with the same idempotency key is safe). A 503."""


class Inbox(Protocol):
    """Where the writer takes its jobs from; None: stop once what came before is written."""

    def get(self) -> Job | None: ...

    def empty(self) -> bool: ...


class ReportWriter(abc.ABC):
    """Writes reports for one process: posted ones in groups, retractions one at a time, each
    in the order sent. The asking side: what sends the jobs to the writing side (`Writes`,
    behind `serve`) is its subclass's."""

    def __init__(self) -> None:
        self._tokens = itertools.count()
        self._waiting: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Future[Any]]] = {}

    async def write(
        self, case_id: str, reports: Sequence[ReportIn], on: dt.date, secret: str, rebuild: bool
    ) -> Written:
        """Store `reports` (all or nothing) if the key with this secret may write (the key is
        looked up in the write's transaction: a key revoked before it commits is refused), and
        return them with the case's new forecast. `live.Stale`, nothing stored, if the case's
        forecast is stale, unless asked to `rebuild` it here."""
        token = next(self._tokens)
        written: Written = await self._ask(_Post(token, case_id, reports, on, secret, rebuild))
        return written

    async def retract(
        self,
        case_id: str,
        report_id: int,
        at: dt.datetime,
        on: dt.date,
        actor: str,
        rebuild: bool,
    ) -> ReportOut:
        """Retract the report from `at` (audited as `actor`'s) and bring the case's forecast on
        `on` up to date; the report as stored. Retracting it again changes nothing. A stale
        forecast as for `write`."""
        token = next(self._tokens)
        row: ReportOut = await self._ask(
            _Retract(token, case_id, report_id, at, on, actor, rebuild)
        )
        return row

    @abc.abstractmethod
    def close(self) -> None:
        """Write what is queued, then stop."""

    async def _ask(self, job: Job) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._waiting[job.token] = (loop, future)
        try:
            self._send(job)
            return await future
        finally:
            self._waiting.pop(job.token, None)

    @abc.abstractmethod
    def _send(self, job: Job) -> None:
        """Hand the job to the writing side (without waiting)."""


class ThreadWriter(ReportWriter):
    """The writing side on a thread of this process (`ESC_WRITER=thread`)."""

    def __init__(self, sessions: Callable[[], Session], engine: Engine) -> None:
        super().__init__()
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        writes = Writes(sessions, engine)
        self._thread = threading.Thread(
            target=serve, args=(self._queue, writes, self._answer), name="report-writer"
        )
        self._thread.daemon = True
        self._thread.start()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def _send(self, job: Job) -> None:
        self._queue.put(job)

    def _answer(self, answers: Answers) -> None:
        """Settle each answered job's future, on its loop (called from any thread)."""
        for token, outcome in answers:
            waiting = self._waiting.get(token)
            if waiting is not None:
                loop, future = waiting
                with contextlib.suppress(RuntimeError):  # a closed loop: its request is gone
                    loop.call_soon_threadsafe(settle, future, outcome)


def serve(inbox: Inbox, writes: Writes, answer: Callable[[Answers], None]) -> None:
    """Write the jobs from `inbox` until it says stop: those that queued while the last turn
    was written come together, consecutive POSTs in one group (one commit). Alerts that a turn
    fires are handed over once its answers are."""
    while (first := inbox.get()) is not None:
        jobs: list[Job | None] = [first]
        while not inbox.empty() and jobs[-1] is not None:
            jobs.append(inbox.get())
        for turn in _in_turn(jobs):
            with alerts.sent_after_answers():
                answer(writes.turn(turn))
        if jobs[-1] is None:
            return


class Writes:
    """The writing side: each turn in a write transaction of its own."""

    def __init__(self, sessions: Callable[[], Session], engine: Engine) -> None:
        self._sessions = sessions
        self._engine = engine

    def turn(self, turn: list[_Post] | _Retract) -> Answers:
        if isinstance(turn, _Retract):
            outcome = self._transaction(lambda session: _retract(session, self._engine, turn))
            return [(turn.token, outcome)]
        outcomes = self._transaction(lambda session: _write(session, self._engine, turn))
        if isinstance(outcomes, Exception):  # a failed commit fails every POST of the group
            return [(post.token, outcomes) for post in turn]
        return [(post.token, outcomes[post.token]) for post in turn]

    def _transaction[T](self, work: Callable[[Session], T]) -> T | Exception:
        """`work` in one write transaction, committed; or why it failed."""
        try:
            with self._sessions() as session:
                begin_writing(session)
                done = work(session)
                session.commit()
                return done
        except Exception as exc:
            return exc


def _in_turn(jobs: list[Job | None]) -> Iterator[list[_Post] | _Retract]:
    """The jobs in the order sent, consecutive POSTs together (one group, one commit)."""
    group: list[_Post] = []
    for job in jobs:
        if isinstance(job, _Post):
            group.append(job)
            continue
        if group:
            yield group
            group = []
        if job is not None:
            yield job
    if group:
        yield group


def _retract(session: Session, engine: Engine, job: _Retract) -> ReportOut:
    case = lock_case(session, job.case_id)
    before = live.held(session, engine, case, job.on)
    if before.stale and not job.rebuild:
        raise live.Stale(job.case_id)
    row, now_retracted = store.retract_report(
        session, job.case_id, job.report_id, job.at, job.actor
    )
    if now_retracted:
        live.update(session, engine, case, job.on, retracted=[row], before=before)
        detail = {"report": job.report_id, "retracted_at": job.at.isoformat()}
        keys.record(session.connection(), job.actor, "report.retract", job.case_id, detail)
    return ReportOut.model_validate(row)


def settle[T](future: asyncio.Future[T], outcome: T | Exception) -> None:
    if future.done():  # the client went away
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


def _write(session: Session, engine: Engine, group: list[_Post]) -> dict[int, Outcome]:
    """Store the group's reports and update each case's live forecast, in the caller's
    transaction: each POST's answer, or its error (a POST refused stores nothing, and fails no
    other POST), by token."""
    outcomes: dict[int, Outcome] = dict(_refused_keys(session, group))
    on = max(post.on for post in group)
    group = [post for post in group if post.token not in outcomes]
    for case_id in sorted({post.case_id for post in group}):  # one lock order: no deadlocks
        posts = [post for post in group if post.case_id == case_id]
        try:
            case = lock_case(session, case_id)
        except NotFoundError as exc:
            outcomes.update({post.token: exc for post in posts})
            continue
        out_of_period = _out_of_period(case, posts)
        outcomes.update(out_of_period)
        posts = [post for post in posts if post.token not in out_of_period]
        if not posts:  # every one refused: nothing written, the forecast as it was
            continue
        before = live.held(session, engine, case, on)
        if before.stale and not any(post.rebuild for post in posts):
            outcomes.update({post.token: live.Stale(case_id) for post in posts})
            continue
        batches, actors = [post.reports for post in posts], [post.actor for post in posts]
        stored, added = _store(session, case_id, batches, actors)
        forecast = live.update(session, engine, case, on, added, before=before)
        _audit(session, case_id, posts, stored, added)
        for post, rows in zip(posts, stored, strict=True):
            outcomes[post.token] = (
                rows if isinstance(rows, Exception) else Written(reports_json(rows), forecast)
            )
    return outcomes


def _refused_keys(session: Session, group: list[_Post]) -> dict[int, Exception]:
    """The POSTs whose key may not write, and why (`app.access.judge`); the others get their
    key's name. One read for the whole group."""
    found, exist = keys.find(session.connection(), {post.secret for post in group})
    refused: dict[int, Exception] = {}
    for post in group:
        try:
            post.actor = judge(found.get(post.secret), exist, "analyst", "write").name
        except HTTPException as exc:
            refused[post.token] = exc
    return refused


def _out_of_period(case: CaseHead, posts: list[_Post]) -> dict[int, Exception]:
    """The POSTs with a report observed before the case's period opens, and why each fails."""
    refused: dict[int, Exception] = {}
    for post in posts:
        try:
            check_period(case.opened_on, post.reports)
        except EvidenceError as exc:
            refused[post.token] = exc
    return refused


REFUSALS = (DataError, IntegrityError)
"""What the database says of a report it will not store (the checks before should catch all)."""


def _audit(
    session: Session,
    case_id: str,
    posts: list[_Post],
    stored: list[list[Row[Any]] | Exception],
    added: list[Row[Any]],
) -> None:
    """One audit entry per POST that stored a report (a retry that stored nothing wrote
    nothing), one statement for the group's."""
    unclaimed = {row.id for row in added}  # a retry within the group gets its first's rows
    writes = []
    for post, rows in zip(posts, stored, strict=True):
        ids = [] if isinstance(rows, Exception) else [row.id for row in rows if row.id in unclaimed]
        unclaimed.difference_update(ids)
        if ids:
            writes.append((post.actor, {"reports": ids}))
    if writes:
        keys.record_each(session.connection(), "reports.add", case_id, writes)


def _store(
    session: Session, case_id: str, batches: list[Sequence[ReportIn]], actors: list[str]
) -> tuple[list[list[Row[Any]] | Exception], list[Row[Any]]]:
    """`store.add_reports` for one case's POSTs (their reports, and the keys that sent them),
    all in one INSERT; should the database refuse it, POST by POST, each in a savepoint of its
    own: a refused report fails its own POST only."""
    try:
        with session.begin_nested():
            stored, added = store.add_reports(session, case_id, batches, actors)
        return list(stored), added
    except REFUSALS:
        pass
    outcomes: list[list[Row[Any]] | Exception] = []
    every_added: list[Row[Any]] = []
    for batch, actor in zip(batches, actors, strict=True):
        try:
            with session.begin_nested():
                [rows], added = store.add_reports(session, case_id, [batch], [actor])
        except REFUSALS as exc:
            reason = str(exc.orig).splitlines()[0]
            outcomes.append(InputError("body", f"the database refused it: {reason}"))
            continue
        outcomes.append(rows)
        every_added += added
    return outcomes, every_added
