"""The report writer in a process of its own (`ESC_WRITER=process`, the default).

In one interpreter, a POST under load costs about as much on the event loop (the framework:
parsing, routing, answering) as in the writer thread (the transaction and the forecast), and the
two take turns holding the interpreter: measured at 32 connections, the server used one core,
half on each. Here the writing side (`app.writer.serve`, the same code as the thread's) runs in a
child process with its own interpreter, its own connections and a copy of the model, so the two
halves use two cores.

The event loop sends it the jobs through one pipe and never waits on it (what does not fit waits
in a backlog until the pipe is writable: a thread handing them over instead cost about a fifth
of the POST rate, in turns at the interpreter), and reads, through another, the answers (each POST's
reports already as JSON, its forecast as stored) and the alerts its commits fired, which this
process delivers. A POST is answered only once the child has committed it, as before. Should the
child die, the POSTs it had been sent fail with a 503 (they may have been stored: a retry with
the same idempotency key is safe) and a new child takes the next ones; should this process die,
the child reads the end of its pipe and exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import fcntl
import logging
import multiprocessing
import os
import pickle
import struct
import time
import traceback
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from fastapi import HTTPException
from sqlalchemy import Engine as Database

from app import alerts
from app.process import tune_serving_process
from app.settings import Settings
from app.store import alerts as alert_store
from app.store.db import open_database, sessions
from app.writer import Answers, Job, Outcome, ReportWriter, WriterStopped, Writes, serve, settle
from models.engine import Engine

log = logging.getLogger("escalation")

RESTART_SECONDS = 1.0
"""The least time between the starts of two children (one that cannot start is not retried in a
tight loop)."""
PIPE_BYTES = 1 << 20
READ_BYTES = 1 << 16
STOP_SECONDS = 30.0
"""How long closing waits for the child to write what it was sent."""

_CONTEXT = multiprocessing.get_context("spawn")  # a fork would copy this process's threads' locks


class ProcessWriter(ReportWriter):
    """The asking side, on the serving process's event loop: jobs out through one pipe without
    ever waiting for it (what does not fit waits in a backlog until the pipe is writable),
    answers and alerts in through another, read when it is readable."""

    def __init__(self, settings: Settings, engine: Engine, database: Database) -> None:
        super().__init__()
        self._settings, self._engine, self._database = settings, engine, database
        self._loop = asyncio.get_running_loop()
        self._backlog = bytearray()  # framed jobs the pipe had no room for yet
        self._closing = False
        self._child: _Child | None = None
        self._start()

    @property
    def pid(self) -> int | None:
        """The writing process's id (None while one starts again)."""
        return None if self._child is None else self._child.process.pid

    def close(self) -> None:
        """Tell the child to stop, and settle what it answers until it has."""
        self._closing = True
        child = self._child
        if child is None:
            return
        self._unwatch(child)
        child.send_all(self._backlog + _framed([None]))
        for message in child.answers_until_end():
            self._received(message)
        child.stop()

    def _unwatch(self, child: _Child) -> None:
        self._loop.remove_reader(child.answers.fileno())
        self._loop.remove_writer(child.jobs.fileno())

    def _start(self) -> None:
        if self._closing:  # a restart that came due after `close`
            return
        self._child = _Child(self._settings, self._engine)
        self._loop.add_reader(self._child.answers.fileno(), self._read)

    def _send(self, job: Job) -> None:
        if self._child is None:
            raise WriterStopped("the report writer is starting again after a failure")
        frame = _framed([job])
        if not self._backlog:
            frame = frame[self._child.write(frame) :]
            if not frame:
                return
            self._loop.add_writer(self._child.jobs.fileno(), self._drain)
        self._backlog += frame

    def _drain(self) -> None:
        if self._child is not None:
            del self._backlog[: self._child.write(self._backlog)]
            if not self._backlog:
                self._loop.remove_writer(self._child.jobs.fileno())

    def _read(self) -> None:
        """Whatever the child has sent; its end fails what it was asked (`_lost`)."""
        child = self._child
        if child is None:
            return
        messages, ended = child.answered()
        for message in messages:
            self._received(message)
        if ended:
            self._lost(child)

    def _received(self, message: tuple[str, Any]) -> None:
        kind, content = message
        if kind == "alerts":
            alerts.hand_over(self._database, content)
            return
        for token, outcome in content:
            waiting = self._waiting.get(token)
            if waiting is not None:
                settle(waiting[1], _rebuilt(outcome))

    def _lost(self, child: _Child) -> None:
        """The child ended unasked: every write waiting fails (503), and another child starts,
        no sooner than `RESTART_SECONDS` after the last did."""
        self._unwatch(child)
        self._backlog.clear()
        self._child = None
        code = child.stop(wait=False)
        stopped = WriterStopped(f"the report writer stopped (exit code {code})")
        log.error("%s with %d writes unanswered; starting another", stopped, len(self._waiting))
        for _, future in list(self._waiting.values()):
            settle(future, stopped)
        wait = max(0.0, child.started + RESTART_SECONDS - time.monotonic())
        self._loop.call_later(wait, self._start)


class _Child:
    """One writing process and this process's ends of its two pipes."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        jobs_out, self.jobs = _CONTEXT.Pipe(duplex=False)
        self.answers, answers_in = _CONTEXT.Pipe(duplex=False)
        # This side never waits on either pipe: it is the event loop (which may make them
        # non-blocking anyway: uvloop does for what it watches).
        os.set_blocking(self.jobs.fileno(), False)
        os.set_blocking(self.answers.fileno(), False)
        self._frames = Frames()  # the answers read so far
        with contextlib.suppress(OSError):  # room for a burst of POSTs (Linux: up to 1 MiB)
            fcntl.fcntl(self.jobs.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        self.process = _CONTEXT.Process(
            target=_write_in_child,
            args=(jobs_out, answers_in, settings, engine),
            name="report-writer",
            daemon=True,
        )
        self.process.start()
        self.started = time.monotonic()
        jobs_out.close()  # the child's ends are the child's alone: its death is our end of file
        answers_in.close()

    def write(self, data: bytes | bytearray) -> int:
        """As much of `data` as the pipe takes now (all of it to a child that is gone: its end
        of file fails what it was sent)."""
        try:
            return os.write(self.jobs.fileno(), data)
        except BlockingIOError:
            return 0
        except OSError:
            return len(data)

    def send_all(self, data: bytes | bytearray) -> None:
        """All of `data`, waiting for room in the pipe (unless the child is gone)."""
        os.set_blocking(self.jobs.fileno(), True)
        unsent = memoryview(data)
        with contextlib.suppress(OSError):
            while unsent:
                unsent = unsent[os.write(self.jobs.fileno(), unsent) :]

    def answered(self) -> tuple[list[Any], bool]:
        """The messages the child has sent whole so far, and whether its pipe has ended."""
        ended = False
        with contextlib.suppress(BlockingIOError):
            while chunk := os.read(self.answers.fileno(), READ_BYTES):
                self._frames.add(chunk)
            ended = True
        return self._frames.whole(), ended

    def answers_until_end(self) -> list[Any]:
        """Every message the child sends until its pipe ends (waiting for them)."""
        os.set_blocking(self.answers.fileno(), True)
        with contextlib.suppress(OSError):
            while chunk := os.read(self.answers.fileno(), READ_BYTES):
                self._frames.add(chunk)
        return self._frames.whole()

    def stop(self, wait: bool = True) -> int | None:
        """End the process (it is told to stop by the end of its jobs; killed should it still
        run after `STOP_SECONDS`, or at once unless told to `wait`: it has ended its pipe, and
        the event loop must not wait for it); its exit code."""
        self.process.join(STOP_SECONDS if wait else 0)
        if self.process.is_alive():
            if wait:
                log.error("the report writer did not stop in %.0f s: killed", STOP_SECONDS)
            self.process.kill()
            self.process.join()
        self.jobs.close()
        self.answers.close()
        return self.process.exitcode


class Frames:
    """Messages as `multiprocessing.connection.Connection.send` frames them (a 4-byte length,
    then a pickle; the child's are far below the 2 GiB that would take more), cut from bytes
    that arrive in pieces of any size."""

    def __init__(self) -> None:
        self._unread = bytearray()

    def add(self, chunk: bytes) -> None:
        self._unread += chunk

    def whole(self) -> list[Any]:
        """The messages whole so far, in order (what remains waits for the rest)."""
        messages, start = [], 0
        while len(self._unread) - start >= 4:
            (size,) = struct.unpack_from("!i", self._unread, start)
            if len(self._unread) - start - 4 < size:
                break
            messages.append(pickle.loads(self._unread[start + 4 : start + 4 + size]))
            start += 4 + size
        del self._unread[:start]
        return messages


def _framed(jobs: list[Job | None]) -> bytes:
    """Jobs as `multiprocessing.connection.Connection.recv` reads them: a 4-byte length, then
    their pickle."""
    data = pickle.dumps(jobs, protocol=pickle.HIGHEST_PROTOCOL)
    return struct.pack("!i", len(data)) + data


class _Received:
    """The child's inbox: the jobs of each message, one at a time; the end of the socket (the
    serving process gone) is a stop."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._jobs: list[Job | None] = []

    def get(self) -> Job | None:
        if not self._jobs:
            try:
                self._jobs = self._connection.recv()
            except EOFError:
                return None
            self._jobs.reverse()
        return self._jobs.pop()

    def empty(self) -> bool:
        return not self._jobs and not self._connection.poll()


class _ForwardedDelivery:
    """In the child, the alerts' delivery of the serving process: an alert a commit fires is
    leased to it and sent to it to deliver (`app.alerts.hand_over`)."""

    def __init__(self, lease_seconds: float, send: Callable[[tuple[str, Any]], None]) -> None:
        self._lease = dt.timedelta(seconds=lease_seconds)
        self._forward = send

    def lease_from(self, now: dt.datetime) -> dt.datetime:
        return now + self._lease

    def send_soon(self, due: list[alert_store.Due]) -> None:
        self._forward(("alerts", due))


def _write_in_child(
    jobs: Connection, answers: Connection, settings: Settings, engine: Engine
) -> None:
    """The child's whole life: write what is sent until told to stop, or until the serving
    process is gone."""
    logging.basicConfig(format="%(levelname)s:     report writer: %(message)s")
    database = open_database(settings.database_url)
    alerts.forward_deliveries(
        database, _ForwardedDelivery(settings.alert_lease_seconds, answers.send)
    )
    tune_serving_process()

    def answer(answered: Answers) -> None:
        answers.send(("answers", [(token, _portable(outcome)) for token, outcome in answered]))

    with contextlib.suppress(BrokenPipeError):  # the serving process died
        serve(_Received(jobs), Writes(sessions(database), engine), answer)
    database.dispose()


class _Refusal(NamedTuple):
    """An HTTPException on its way between processes (it does not pickle: its arguments are
    passed by keyword)."""

    status_code: int
    detail: Any
    headers: Mapping[str, str] | None


def _portable(outcome: Outcome) -> Outcome | _Refusal:
    """The outcome as it can cross to the serving process (an error that cannot is told as a
    RuntimeError naming it). An error carries where in this process it was raised as a note
    (once: a failed commit answers every POST of its group with the same error): a traceback
    does not cross, and the serving process's log of an unexpected error would otherwise show
    only where the answer arrived."""
    if isinstance(outcome, HTTPException):
        return _Refusal(outcome.status_code, outcome.detail, outcome.headers)
    if isinstance(outcome, Exception):
        try:
            pickle.loads(pickle.dumps(outcome))
        except Exception:
            outcome = RuntimeError(f"{type(outcome).__name__}: {outcome}").with_traceback(
                outcome.__traceback__
            )
        if outcome.__traceback__ is not None:
            frames = "".join(traceback.format_tb(outcome.__traceback__))
            note = f"raised in the report writer's process:\n{frames.rstrip()}"
            if note not in getattr(outcome, "__notes__", ()):
                outcome.add_note(note)
    return outcome


def _rebuilt(outcome: Outcome | _Refusal) -> Outcome:
    if isinstance(outcome, _Refusal):
        return HTTPException(outcome.status_code, outcome.detail, outcome.headers)
    return outcome
