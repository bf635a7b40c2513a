"""A real PostgreSQL server for the tests: Debian's package (`.ci/system-packages`), started on
127.0.0.1 on a free port in a throw-away data directory, stopped at the end of the session.
Set ESC_TEST_POSTGRES_URL to use a server that is already running instead."""

from __future__ import annotations

import contextlib
import functools
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine

from app.store.db import migrate, open_database, schema_is_current

DATABASE = "escalation_test"


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _bin_dir_or_fail() -> Path:
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed: run .ci/system-packages (make test does)")
    return bin_dir


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _as_postgres(*command: str) -> None:
    """Run a server command as the postgres user (the server refuses to run as root)."""
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run([*prefix, *command], check=True, capture_output=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Yield a SQLAlchemy URL of a fresh, empty database on a running server."""
    existing = os.environ.get("ESC_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    bin_dir = _bin_dir_or_fail()
    data = Path(tempfile.mkdtemp(prefix="esc-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    # -N: a throw-away directory need not be synced to disk (a quarter of initdb's time).
    _as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-N")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"
    # -l: the server writes to its own log, not to our pipes (which would never close).
    log = str(data / "server.log")
    _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
    try:
        _as_postgres(
            str(bin_dir / "createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            DATABASE,
        )
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
    finally:
        _as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


@functools.cache
def _held_database(postgres_url: str) -> Engine:
    """One connection pool per server for the whole session (a new one costs 12 ms a test)."""
    return open_database(postgres_url)


def emptied(postgres_url: str) -> str:
    """The PostgreSQL database at `postgres_url`, emptied of every table."""
    with _held_database(postgres_url).begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    return postgres_url


def cleared(postgres_url: str) -> str:
    """The PostgreSQL database at `postgres_url` with the current schema and no rows: if the
    schema is current, every table's rows deleted with triggers off (the append-only ones would
    refuse; a test's few rows go in about 2 ms where TRUNCATE takes 80) and every sequence
    restarted; else emptied and migrated."""
    database = _held_database(postgres_url)
    with database.begin() as connection:
        current = schema_is_current(connection)
        if current:
            connection.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for (table,) in connection.exec_driver_sql(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            ).all():
                connection.exec_driver_sql(f'DELETE FROM "{table}"')
            connection.exec_driver_sql(
                "SELECT setval(quote_ident(sequencename)::regclass, 1, false)"
                " FROM pg_sequences WHERE schemaname = 'public'"
            )
    if not current:
        emptied(postgres_url)
        migrate(database)
    return postgres_url
