"""What `make serve` prepares: the article's case in the store, and a write token."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import serve
from app.seed import ARTICLE_CASE, seed_article_case
from app.settings import Settings
from app.store.db import make_engine, migrate
from app.store.tables import ForecastRow, ReportRow
from models.catalog import Catalog


def test_the_article_case_is_loaded_once(database_url: str, catalog: Catalog) -> None:
    engine = make_engine(database_url)
    migrate(engine)
    with Session(engine) as session:
        assert seed_article_case(session, catalog) is True
        assert seed_article_case(session, catalog) is False
        reports = session.scalar(select(func.count()).select_from(ReportRow))
        assert reports == 17
    engine.dispose()
    assert ARTICLE_CASE["id"] == "belarus-ukraine-2022"


def test_write_token_is_generated_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = serve.write_token(Settings())
    assert len(first) >= 32 and serve.write_token(Settings()) == first
    assert (tmp_path / serve.TOKEN_FILE).stat().st_mode & 0o077 == 0
    assert serve.write_token(Settings(write_token="configured")) == "configured"


def test_an_upgrade_keeps_the_data(database_url: str, catalog: Catalog) -> None:
    """Data written under the first schema survives the migration to the current one."""
    engine = make_engine(database_url)
    migrate(engine, "0001")
    with Session(engine) as session:
        seed_article_case(session, catalog)
    migrate(engine)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(ReportRow)) == 17
        assert session.scalar(select(func.count()).select_from(ForecastRow)) == 0
    engine.dispose()
