"""How cases end: an append-only record of resolutions, corrections and withdrawals, and each
case's standing resolution beside it (read with the case's lock by every write).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.store.triggers import append_only, drop_append_only

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resolutions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(80), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("resolved_on", sa.Date, nullable=True),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("label_confidence", sa.Float, nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(80), nullable=False),
    )
    op.create_index("ix_resolutions_case_id", "resolutions", ["case_id"])
    append_only("resolutions")
    op.add_column("cases", sa.Column("resolved_as", sa.String(32), nullable=True))
    op.add_column("cases", sa.Column("resolved_on", sa.Date, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cases") as cases:
        cases.drop_column("resolved_on")
        cases.drop_column("resolved_as")
    drop_append_only("resolutions")
