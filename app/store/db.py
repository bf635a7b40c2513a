"""Engines and migrations. SQLite runs in WAL mode with full syncs: a report acknowledged with a
2xx is on disk. PostgreSQL needs nothing special.

SQLite transactions are begun here rather than by the sqlite3 module, which starts one only at
the first write, so that the reads before it see no snapshot at all: every transaction is a real
one, and a writer (see `app.store.cases.begin_writing`) begins with BEGIN IMMEDIATE, taking the
database's one write lock before it reads what it will update."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, ExceptionContext, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).with_name("migrations")


class StorageError(Exception):
    """The database cannot be opened as it should be (the service refuses to start on it)."""


def open_database(url: str) -> Engine:
    """A SQLAlchemy engine for `url` (the service calls it the database; `models.engine` is
    the model); a SQLite file is created if new (see `sqlite_file`), pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    database = create_engine(url, connect_args={"timeout": 30})
    event.listen(database, "connect", _sqlite_pragmas)
    event.listen(database, "begin", _sqlite_begin)
    event.listen(database, "handle_error", _discard_after_fault)
    if (path := sqlite_path(database)) is not None:
        sqlite_file(Path(path))
        event.listen(database, "do_connect", _existing_file(path))
    return database


def sessions(database: Engine) -> Callable[[], Session]:
    """Sessions on `database`; on a SQLite file, each after `require_writable`, before any
    connection is handed out: a connection that cannot write its shared memory must not even
    begin a read, nor be closed (SQLite writes to that memory on close too)."""
    factory = sessionmaker(database, expire_on_commit=False)
    path = sqlite_path(database)
    if path is None:
        return factory

    def checked() -> Session:
        require_writable(path)
        return factory()

    return checked


@contextlib.contextmanager
def snapshot(database: Engine) -> Iterator[Connection]:
    """A connection whose reads all see one moment of the database: a read transaction
    (SQLite's is one already; PostgreSQL's at REPEATABLE READ)."""
    options = {"isolation_level": "REPEATABLE READ"} if database.dialect.name != "sqlite" else {}
    with database.connect().execution_options(**options) as connection, connection.begin():
        yield connection


def sqlite_path(database: Engine) -> str | None:
    """The file of a SQLite database, None for any other (or one in memory)."""
    name = database.url.database
    local = database.dialect.name == "sqlite" and name not in (None, "", ":memory:")
    return str(name) if local else None


def sqlite_file(path: Path) -> None:
    """Make sure the database file is there: a new one is created readable by its owner only
    (SQLite gives its journal the same mode), and its creation recorded beside it; a file that
    was created and is now missing is not silently replaced by an empty one (StorageError)."""
    created = path.with_name(path.name + ".created")
    if path.exists():
        return
    if created.exists():
        raise StorageError(
            f"the database {path} is missing, though one was created there "
            f"({created.read_text().strip()}): restore it, or delete {created} to start afresh"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:  # another worker starting at the same moment made it
        return
    created.write_text(f"created {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}\n")


def unwritable(database: str) -> str | None:
    """The first of a SQLite database's files (itself, its journal, its shared memory) that
    exists and cannot be written; None when all can."""
    for path in (database, f"{database}-wal", f"{database}-shm"):
        if not os.access(path, os.W_OK) and os.path.exists(path):
            return path
    return None


def require_writable(database: str) -> None:
    """sqlite3.OperationalError unless the database file and its journal can be written.

    SQLite writes into its shared-memory file (mapped) even to begin a read, and to close a
    connection; once the file is made immutable, that write kills the process with SIGBUS
    (measured: the first poll after `chattr +i`). Checked before a connection is opened, before
    a session is made and before each poll's read: a few microseconds, and a 503 in place of
    a dead service."""
    if (path := unwritable(database)) is not None:
        raise sqlite3.OperationalError(f"{path} cannot be written")


def _existing_file(database: str) -> Callable[..., None]:
    """A `do_connect` hook: `require_writable`, and the file is opened as it is, never created
    (`mode=rw`): a connection opened after it was deleted would otherwise make an empty
    database in its place, and serve from it (the file is created once, by `open_database`)."""
    uri = f"{Path(database).resolve().as_uri()}?mode=rw"

    def connect(dialect: Any, record: Any, args: list[Any], params: dict[str, Any]) -> None:
        require_writable(database)
        args[0] = uri
        params["uri"] = True

    return connect


def _discard_after_fault(context: ExceptionContext) -> None:
    """A SQLite connection that met a fault is not given back to the pool: one opened while the
    file was read-only stays read-only for good (measured: writes kept failing after the
    permissions were restored, until a restart). New connections see the file as it is now.
    Unless the files cannot be written now: closing the connection would then be fatal
    (`require_writable`), and it was opened writable, so it serves again once they are."""
    path = sqlite_path(context.engine) if context.engine is not None else None
    if isinstance(context.original_exception, sqlite3.OperationalError) and path:
        context.is_disconnect = unwritable(path) is None


WRITER = "escalation_writer"
"""Execution option marking a connection whose transaction will write (SQLite: BEGIN IMMEDIATE)."""


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITER, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    connection.isolation_level = None  # transactions are begun by _sqlite_begin
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    _write_ahead_log(cursor)
    cursor.execute("PRAGMA synchronous=FULL")  # every commit is on disk before it returns
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


WAL_ATTEMPTS = 100


def _write_ahead_log(cursor: Any) -> None:
    """Put the database in WAL mode (readers never block the writer), once: the mode is kept
    in the file, so later connections find it set. Switching needs the file to itself, and
    SQLite refuses at once ("database is locked", no busy wait) while another connection
    holds it: two workers opening a new file together. So it is tried again, for up to 10 s."""
    for attempt in range(WAL_ATTEMPTS):
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.1)


MIGRATION_LOCK = 0x65736361  # a PostgreSQL advisory lock key ("esca")


def migrate(database: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (an upgrade keeps the data). Workers and replicas starting
    together migrate one at a time: the others then find the schema up to date."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with database.connect() as connection:
        connection.execution_options(**{WRITER: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            if revision == "head" and schema_is_current(connection):
                return  # the usual start: alembic's environment not loaded (4 of its 5 ms)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)


@functools.cache
def head_revision() -> str | None:
    """The newest migration's revision (the scripts read once per process)."""
    return ScriptDirectory(str(MIGRATIONS)).get_current_head()


def schema_is_current(connection: Connection) -> bool:
    """Whether the database's schema is at the newest migration."""
    if not inspect(connection).has_table("alembic_version"):
        return False
    stored = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars()
    return list(stored) == [head_revision()]


MIN_FREE_BYTES = 16 * 1024 * 1024
"""Below this much free space a SQLite database is reported as full: commits will soon fail."""


class StorageProbe:
    """What readiness asks of the database: that it answers; for a SQLite file, also that it
    is still the file opened at start (not deleted or replaced), writable, with room to grow."""

    def __init__(self, database: Engine) -> None:
        self.database = database
        path = sqlite_path(database)
        self.path = Path(path) if path else None
        self.inode = self.path.stat().st_ino if self.path else None

    def problem(self) -> str | None:
        """Why the database cannot serve now, or None. The file is looked at before any
        connection is used (`require_writable`)."""
        if (trouble := self._file_problem()) is not None:
            return trouble
        try:
            with self.database.connect() as connection:
                read_only = connection.dialect.name == "postgresql" and (
                    connection.exec_driver_sql("SHOW transaction_read_only").scalar() == "on"
                )
                connection.exec_driver_sql("SELECT 1")
        except Exception as exc:  # whatever the driver raises, the database is not serving
            return f"database unreachable: {str(getattr(exc, 'orig', exc)).splitlines()[0]}"
        return "database is read-only" if read_only else None

    def _file_problem(self) -> str | None:
        if self.path is None:
            return None
        try:
            inode = self.path.stat().st_ino
        except OSError:
            return f"database file {self.path} is gone"
        if inode != self.inode:
            return f"database file {self.path} was replaced after start"
        if (stuck := unwritable(str(self.path))) is not None:
            return f"database file {stuck} is read-only"
        if not os.access(self.path.parent, os.W_OK):
            return f"the directory of {self.path} is read-only"
        if shutil.disk_usage(self.path.parent).free < MIN_FREE_BYTES:
            return f"the disk holding {self.path} is full"
        return None
