"""Bitemporal reports and a case's clock and period.

Reports get `known_at`, when the evidence became available: existing reports were known when
they were stored (their `received_at`). Cases get `opened_on`, the start of the period they are
about (existing cases: a year before they were created, or their earliest report if earlier),
and `clock`, the date a historical case is seen at (NULL: live). The article's case as seeded
(created at the article's publication) becomes historical, pinned at 19 July 2022. Live
forecasts are dropped: derived data, rebuilt from the reports on the next read.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ARTICLE_CASE = "belarus-ukraine-2022"
ARTICLE_PUBLISHED = dt.datetime(2022, 7, 19, 12, tzinfo=dt.UTC)
ARTICLE_PERIOD = dt.date(2022, 2, 24)  # Russia's invasion of Ukraine, the war the case is about


def upgrade() -> None:
    op.add_column("reports", sa.Column("known_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE reports SET known_at = received_at")
    op.add_column("cases", sa.Column("opened_on", sa.Date, nullable=True))
    op.add_column("cases", sa.Column("clock", sa.Date, nullable=True))
    _open_cases()
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("known_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    if op.get_bind().dialect.name != "sqlite":
        # SQLite alters a column by copying the table, and cannot drop the cases table that
        # reports refer to: there the column stays nullable, and every case has a value.
        op.alter_column("cases", "opened_on", existing_type=sa.Date, nullable=False)
    op.execute("DELETE FROM live_forecasts")
    op.add_column(
        "live_forecasts",
        sa.Column("reports_left_out", sa.Integer, nullable=False, server_default="0"),
    )
    op.add_column(
        "live_forecasts",
        sa.Column("pinned", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def _open_cases() -> None:
    connection = op.get_bind()
    cases = sa.table(
        "cases",
        sa.column("id", sa.String),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("opened_on", sa.Date),
        sa.column("clock", sa.Date),
    )
    reports = sa.table(
        "reports", sa.column("case_id", sa.String), sa.column("observed_on", sa.Date)
    )
    earliest = (
        sa.select(sa.func.min(reports.c.observed_on))
        .where(reports.c.case_id == cases.c.id)
        .scalar_subquery()
    )
    for case_id, created_at, first in connection.execute(
        sa.select(cases.c.id, cases.c.created_at, earliest)
    ):
        created = _utc(created_at)
        opened = created.date() - dt.timedelta(days=365)
        values: dict[str, object] = {"opened_on": min(opened, first or opened)}
        if case_id == ARTICLE_CASE and created == ARTICLE_PUBLISHED:
            values = {"opened_on": ARTICLE_PERIOD, "clock": ARTICLE_PUBLISHED.date()}
        connection.execute(sa.update(cases).where(cases.c.id == case_id).values(**values))


def _utc(moment: dt.datetime | str) -> dt.datetime:
    """A stored timestamp as UTC (SQLite hands back text or a naive datetime)."""
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def downgrade() -> None:
    op.drop_column("live_forecasts", "pinned")
    op.drop_column("live_forecasts", "reports_left_out")
    op.drop_column("cases", "clock")
    op.drop_column("cases", "opened_on")
    op.drop_column("reports", "known_at")
