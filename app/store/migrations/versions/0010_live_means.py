"""Each live forecast keeps its outcome means beside its JSON: what a metrics scrape reads for
every case, a few dozen bytes a case where the whole forecast is several kilobytes.

Each existing row's means are read from its stored forecast.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 1000

live = sa.table(
    "live_forecasts",
    sa.column("case_id", sa.String),
    sa.column("payload", sa.Text),
    sa.column("means", sa.JSON),
)


def upgrade() -> None:
    op.add_column("live_forecasts", sa.Column("means", sa.JSON, nullable=True))
    connection = op.get_bind()
    update = (
        sa.update(live)
        .where(live.c.case_id == sa.bindparam("row_case_id"))
        .values(means=sa.bindparam("row_means"))
    )
    last = ""
    while rows := connection.execute(
        sa.select(live.c.case_id, live.c.payload)
        .where(live.c.case_id > last)
        .order_by(live.c.case_id)
        .limit(BATCH)
    ).all():
        values = [{"row_case_id": row.case_id, "row_means": _means(row.payload)} for row in rows]
        connection.execute(update, values)
        last = rows[-1].case_id
    with op.batch_alter_table("live_forecasts") as batch:
        batch.alter_column("means", existing_type=sa.JSON, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("live_forecasts") as batch:
        batch.drop_column("means")


def _means(payload: str) -> dict[str, float]:
    return {p["outcome"]: p["mean"] for p in json.loads(payload)["probabilities"]}
