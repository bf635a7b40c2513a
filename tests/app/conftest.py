"""Service fixtures: every storage test runs on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.store.db import migrate, open_database

from ..postgres import cleared, emptied, postgres_server
from ..service import AUTH, BELARUS, TOKEN


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with the current schema and no rows, migrated once per session."""
    path = tmp_path_factory.mktemp("template") / "escalation.db"
    database = open_database(f"sqlite:///{path}")
    migrate(database)
    database.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of each kind with the current schema and no rows: a copy of the migrated
    template, or the PostgreSQL database cleared (a tenth of the cost of migrating each time)."""
    if request.param == "sqlite":
        path = tmp_path / "escalation.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)  # its mode too (0600)
        return f"sqlite:///{path}"
    return cleared(request.getfixturevalue("postgres_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database of each kind without any table (for the migrations themselves)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'escalation.db'}"
    return emptied(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make_app(artifact_path: Path, database_url: str) -> Callable[..., FastAPI]:
    """Build an app on the test database and artifact (settings overridable). Its reports are
    written by a thread (a process of their own would start with each of hundreds of apps: see
    test_writer_process.py for that writer)."""

    def build(**overrides: object) -> FastAPI:
        settings = {
            "artifact_path": artifact_path,
            "database_url": database_url,
            "write_token": TOKEN,
            "writer": "thread",
        }
        return create_app(Settings.model_validate(settings | overrides))

    return build


@pytest.fixture
def client(make_app: Callable[..., FastAPI]) -> Iterator[TestClient]:
    with TestClient(make_app()) as test_client:
        yield test_client


@pytest.fixture
def case(client: TestClient) -> TestClient:
    """A client whose store holds the Belarus case (no reports)."""
    assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
    return client
