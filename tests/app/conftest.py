"""Service fixtures: every storage test runs on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from app.store.db import make_engine

from ..postgres import postgres_server

TOKEN = "test-token-8f1c"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
BELARUS = {
    "id": "belarus-ukraine-2022",
    "title": "Will Belarus enter Russia's war in Ukraine?",
    "state": "Belarus",
    "target": "Ukraine",
    "patron": "Russia",
}
CASE = BELARUS["id"]
REPORTS = f"/v1/cases/{CASE}/reports"
FORECAST = f"/v1/cases/{CASE}/forecast"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'escalation.db'}"
    return emptied(request.getfixturevalue("postgres_url"))


def emptied(postgres_url: str) -> str:
    """The PostgreSQL database at `postgres_url`, emptied of every table."""
    engine = make_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    return postgres_url


@pytest.fixture
def make_app(artifact_path: Path, database_url: str) -> Callable[..., FastAPI]:
    """Build an app on the test database and artifact (settings overridable)."""

    def build(**overrides: object) -> FastAPI:
        settings = {
            "artifact_path": artifact_path,
            "database_url": database_url,
            "write_token": TOKEN,
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
