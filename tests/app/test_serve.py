"""What `make serve` prepares: the article's case in the store, and a write token."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Date, column, func, insert, select, table
from sqlalchemy.orm import Session

from app import serve
from app.seed import ARTICLE_CASE, seed_article_case
from app.settings import Settings
from app.store.db import migrate, open_database
from app.store.tables import CaseRow, ForecastRow, ReportRow, UtcDateTime
from models.catalog import Catalog


def test_the_article_case_is_loaded_once(database_url: str, catalog: Catalog) -> None:
    database = open_database(database_url)
    migrate(database)
    with Session(database) as session:
        assert seed_article_case(session, catalog) is True
        assert seed_article_case(session, catalog) is False
        reports = session.scalar(select(func.count()).select_from(ReportRow))
        assert reports == 18
    database.dispose()
    assert ARTICLE_CASE["id"] == "belarus-ukraine-2022"


def test_write_token_is_generated_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = serve.write_token(Settings())
    assert len(first) >= 32 and serve.write_token(Settings()) == first
    assert (tmp_path / serve.TOKEN_FILE).stat().st_mode & 0o077 == 0
    assert serve.write_token(Settings(write_token="configured")) == "configured"


def test_an_upgrade_keeps_the_data(empty_database_url: str) -> None:
    """Data written under the first schema survives the migrations to the current one: the
    cases get the kind their patron implies and a period reaching back to their reports, the
    reports were known when they were stored, and the article's case as seeded is historical."""
    database = open_database(empty_database_url)
    migrate(database, "0001")
    # The first schema's columns only, typed so that each dialect stores dates its own way.
    cases = table(
        "cases",
        *(column(name) for name in ("id", "title", "state", "target", "patron", "horizon_days")),
        column("created_at", UtcDateTime),
    )
    reports = table(
        "reports",
        *(column(name) for name in ("case_id", "indicator", "value", "source", "grade", "note")),
        column("observed_on", Date),
        column("received_at", UtcDateTime),
    )
    at = dt.datetime(2022, 7, 19, 12, tzinfo=dt.UTC)
    case = {"title": "t", "state": "s", "target": "x", "horizon_days": 90, "created_at": at}
    report = {"case_id": "joined", "indicator": "covert_mobilization", "value": 1.0}
    report |= {"source": "src", "grade": "B", "note": "", "received_at": at}
    with database.begin() as connection:
        connection.execute(insert(cases), [case | {"id": "joined", "patron": "P"}])
        connection.execute(insert(cases), [case | {"id": "alone", "patron": None}])
        connection.execute(insert(cases), [case | {"id": ARTICLE_CASE["id"], "patron": "R"}])
        connection.execute(insert(reports), [report | {"observed_on": dt.date(2020, 7, 1)}] * 3)
    migrate(database)
    with Session(database) as session:
        assert session.scalar(select(func.count()).select_from(ReportRow)) == 3
        assert session.scalar(select(func.count()).select_from(ForecastRow)) == 0
        rows = {row.id: row for row in session.scalars(select(CaseRow))}
        assert {id: row.kind for id, row in rows.items()} == {
            "joined": "join_war",
            "alone": "start_war",
            ARTICLE_CASE["id"]: "join_war",
        }
        assert rows["joined"].opened_on == dt.date(2020, 7, 1)  # its earliest report
        assert rows["alone"].opened_on == dt.date(2021, 7, 19)  # a year before it was created
        assert (rows["joined"].clock, rows["alone"].clock) == (None, None)
        article = rows[ARTICLE_CASE["id"]]
        assert (article.clock, article.opened_on) == (
            dt.date(2022, 7, 19),
            ARTICLE_CASE["opened_on"],
        )
        known = session.scalars(select(ReportRow.known_at)).all()
        assert known == [at] * 3
    database.dispose()
