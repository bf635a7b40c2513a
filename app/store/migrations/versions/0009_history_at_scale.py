"""History at scale: a history row keeps the point it serves, not the whole forecast (about
650 bytes where the forecast took 4 KB), and a case's history and reports are indexed in the
orders they are read and paged in: (case_id, id) and (case_id, observed_on, id).

Each existing row's point is made from its stored forecast: the fields the history served
(`as_of`, model, evidence hash, reports used, probabilities) and when it was recorded. On
PostgreSQL, "the latest point of this case" was planned as a backward scan of the primary key
(tens of milliseconds once other cases had many newer rows); the index on (case_id, id)
answers it, and every page of a history or a report list, from the case's first entry.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 1000
INDEXES = {"forecasts": ["case_id", "id"], "reports": ["case_id", "observed_on", "id"]}
POINT_FIELDS = ("as_of", "artifact_id", "evidence_hash", "reports_used", "probabilities")

forecasts = sa.table(
    "forecasts",
    sa.column("id", sa.Integer),
    sa.column("recorded_at", sa.DateTime(timezone=True)),
    sa.column("payload", sa.JSON),
    sa.column("point", sa.Text),
)


def upgrade() -> None:
    for name, columns in INDEXES.items():
        op.create_index(f"ix_{name}_by_case", name, columns)
        op.drop_index(f"ix_{name}_case_id", name)  # the new index's first column does its work
    op.add_column("forecasts", sa.Column("point", sa.Text, nullable=True))
    _fill(lambda row: _point(row.recorded_at, row.payload), "point")
    with op.batch_alter_table("forecasts") as batch:
        batch.drop_column("payload")
        batch.alter_column("point", existing_type=sa.Text, nullable=False)


def downgrade() -> None:
    op.add_column("forecasts", sa.Column("payload", sa.JSON, nullable=True))
    # What the history read of a forecast: enough for the earlier schema to serve it.
    _fill(lambda row: _payload(row.point), "payload")
    with op.batch_alter_table("forecasts") as batch:
        batch.drop_column("point")
        batch.alter_column("payload", existing_type=sa.JSON, nullable=False)
    for name in INDEXES:
        op.create_index(f"ix_{name}_case_id", name, ["case_id"])
        op.drop_index(f"ix_{name}_by_case", name)


def _fill(value: Any, column: str) -> None:
    """Set `column` of every history row from the row, a batch at a time in id order."""
    connection = op.get_bind()
    update = (
        sa.update(forecasts)
        .where(forecasts.c.id == sa.bindparam("row_id"))
        .values({column: sa.bindparam("value")})
    )
    last = 0
    while rows := connection.execute(
        sa.select(forecasts).where(forecasts.c.id > last).order_by(forecasts.c.id).limit(BATCH)
    ).all():
        connection.execute(update, [{"row_id": row.id, "value": value(row)} for row in rows])
        last = rows[-1].id


def _point(recorded_at: dt.datetime, payload: dict[str, Any]) -> str:
    """The history point of a stored forecast, as `app.schemas.HistoryPoint` serialises it."""
    utc = recorded_at.replace(tzinfo=dt.UTC) if recorded_at.tzinfo is None else recorded_at
    moment = utc.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    point = {"recorded_at": moment} | {name: payload[name] for name in POINT_FIELDS}
    return json.dumps(point, separators=(",", ":"))


def _payload(point: str) -> dict[str, Any]:
    stored = json.loads(point)
    return {name: stored[name] for name in POINT_FIELDS}
