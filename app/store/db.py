"""Engines and migrations. SQLite runs in WAL mode with full syncs: a report acknowledged with a
2xx is on disk. PostgreSQL needs nothing special.

SQLite transactions are begun here rather than by the sqlite3 module, which starts one only at
the first write, so that the reads before it see no snapshot at all: every transaction is a real
one, and a writer (see `app.store.cases.begin_writing`) begins with BEGIN IMMEDIATE, taking the
database's one write lock before it reads what it will update."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).with_name("migrations")


def make_engine(url: str) -> Engine:
    """An engine for `url`; for a SQLite file, its directory is created and pragmas set."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})
    event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


WRITER = "escalation_writer"
"""Execution option marking a connection whose transaction will write (SQLite: BEGIN IMMEDIATE)."""


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITER, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    connection.isolation_level = None  # transactions are begun by _sqlite_begin
    cursor = connection.cursor()
    for pragma in (
        "journal_mode=WAL",  # readers never block the writer
        "synchronous=FULL",  # every commit is on disk before it returns
        "foreign_keys=ON",
        "busy_timeout=30000",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


MIGRATION_LOCK = 0x65736361  # a PostgreSQL advisory lock key ("esca")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (an upgrade keeps the data). Workers and replicas starting
    together migrate one at a time: the others then find the schema up to date."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect() as connection:
        connection.execution_options(**{WRITER: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
