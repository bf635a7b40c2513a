"""What `make serve` prepares: the article's case in the store, and a write token."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import JSON, Date, column, func, insert, select, table
from sqlalchemy.orm import Session

from app import serve
from app.schemas import HistoryPoint
from app.seed import ARTICLE_CASE, seed_article_case
from app.settings import Settings
from app.store import history
from app.store.db import MIGRATIONS, migrate, open_database
from app.store.pages import Page
from app.store.tables import (
    Base,
    CaseRow,
    ForecastRow,
    LiveForecastRow,
    ReportRow,
    UtcDateTime,
)
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


def test_the_history_upgrade_keeps_every_point_as_it_was_served(empty_database_url: str) -> None:
    """A history row of the 0008 schema kept the whole forecast; from 0009 it keeps the point
    the history serves, made from it; a downgrade gives the earlier schema what it read."""
    database = open_database(empty_database_url)
    migrate(database, "0008")
    at = dt.datetime(2022, 7, 19, 12, 30, tzinfo=dt.UTC)
    probabilities = [
        {"outcome": o, "mean": 0.25, "lower": 0.1, "upper": 0.5, "words": "unlikely"}
        for o in ("no_entry", "false_flag", "direct_invasion")
    ]
    served = {"as_of": "2022-07-19", "artifact_id": "m-1", "evidence_hash": "e" * 64}
    served |= {"reports_used": 2, "probabilities": probabilities}
    forecast = served | {"case_id": "c", "drivers": [], "next": [], "warnings": []}
    case = {"id": "c", "title": "t", "state": "s", "target": "x", "kind": "start_war"}
    case |= {"horizon_days": 90, "created_at": at, "opened_on": dt.date(2022, 1, 1)}
    old_history = table(
        "forecasts",
        *(column(name) for name in ("case_id", "artifact_id", "reports_hash")),
        column("as_of", Date),
        column("recorded_at", UtcDateTime),
        column("payload", JSON),
    )
    with database.begin() as connection:
        connection.execute(insert(CaseRow), [case])
        point = {"case_id": "c", "as_of": dt.date(2022, 7, 19), "artifact_id": "m-1"}
        point |= {"reports_hash": "h", "recorded_at": at, "payload": forecast}
        connection.execute(insert(old_history), [point] * 3)
    migrate(database)
    with Session(database) as session:
        rows, after = history.points(session, "c", Page(limit=10))
    assert after is None and len(rows) == 3
    expected = served | {"recorded_at": "2022-07-19T12:30:00Z"}
    assert all(json.loads(row.point) == expected for row in rows)
    assert HistoryPoint.model_validate_json(rows[0].point).recorded_at == at
    with database.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    with database.connect() as connection:
        payloads = connection.execute(select(old_history.c.payload)).scalars().all()
    assert payloads == [served] * 3
    database.dispose()


def test_the_means_upgrade_reads_each_live_forecast(empty_database_url: str) -> None:
    """0010 gives each stored live forecast the outcome means its JSON holds."""
    database = open_database(empty_database_url)
    migrate(database, "0009")
    at = dt.datetime(2022, 7, 19, 12, 30, tzinfo=dt.UTC)
    case = {"id": "c", "title": "t", "state": "s", "target": "x", "kind": "start_war"}
    case |= {"horizon_days": 90, "created_at": at, "opened_on": dt.date(2022, 1, 1)}
    means = {"no_entry": 0.5, "false_flag": 0.125, "direct_invasion": 0.375}
    payload = {"probabilities": [{"outcome": o, "mean": m} for o, m in means.items()]}
    live = {"case_id": "c", "evidence_on": dt.date(2022, 7, 19), "catalog_sha256": "c" * 64}
    live |= {"reports_hash": "h", "reports_used": 0, "reports_left_out": 0, "pinned": False}
    live |= {"log_likelihoods": {}, "artifact_id": "m-1", "etag": '"e"'}
    old_live = table(
        "live_forecasts",
        *(column(name) for name in live if name not in ("evidence_on", "log_likelihoods")),
        column("evidence_on", Date),
        column("log_likelihoods", JSON),
        column("payload"),
    )
    with database.begin() as connection:
        connection.execute(insert(CaseRow), [case])
        connection.execute(insert(old_live), [live | {"payload": json.dumps(payload)}])
    migrate(database)
    with Session(database) as session:
        assert session.scalars(select(LiveForecastRow.means)).all() == [means]
    database.dispose()


def test_the_migrations_make_the_tables_the_code_declares(database_url: str) -> None:
    database = open_database(database_url)
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    if database.dialect.name == "sqlite":
        # SQLite cannot alter a column of a table others refer to: 0005 left it nullable.
        [(change,)] = differences
        assert change[0] == "modify_nullable" and change[2:4] == ("cases", "opened_on")
    else:
        assert differences == []
    database.dispose()


def test_a_cases_latest_point_is_found_by_its_index_whatever_other_cases_hold(
    database_url: str,
) -> None:
    """What every write reads: on PostgreSQL, with the index on case_id alone, it was planned
    as a backward scan of the primary key through every newer row of other cases."""
    database = open_database(database_url)
    at = dt.datetime(2022, 7, 19, tzinfo=dt.UTC)
    case = {"title": "t", "state": "s", "target": "x", "kind": "start_war", "horizon_days": 90}
    case |= {"created_at": at, "opened_on": dt.date(2022, 1, 1)}
    point = {"as_of": dt.date(2022, 7, 19), "artifact_id": "m-1", "reports_hash": "h"}
    point |= {"recorded_at": at, "point": "{}"}
    with database.begin() as connection:
        connection.execute(insert(CaseRow), [case | {"id": "quiet"}, case | {"id": "busy"}])
        connection.execute(insert(ForecastRow), [point | {"case_id": "quiet"}] * 5)
        connection.execute(insert(ForecastRow), [point | {"case_id": "busy"}] * 20_000)
        connection.exec_driver_sql("ANALYZE")
        latest = history.LATEST.params(case_id="quiet")
        sql = str(latest.compile(connection, compile_kwargs={"literal_binds": True}))
        explain = "EXPLAIN QUERY PLAN " if database.dialect.name == "sqlite" else "EXPLAIN "
        plan = " ".join(str(row[-1]) for row in connection.exec_driver_sql(explain + sql))
    assert "ix_forecasts_by_case" in plan, plan
    database.dispose()
