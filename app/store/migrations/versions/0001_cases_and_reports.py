"""Cases and reports.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("state", sa.String(120), nullable=False),
        sa.Column("target", sa.String(120), nullable=False),
        sa.Column("patron", sa.String(120), nullable=True),
        sa.Column("horizon_days", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("case_id", sa.String(80), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("indicator", sa.String(64), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("observed_on", sa.Date, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("grade", sa.String(1), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("retracted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idempotency_key", sa.String(200), nullable=True),
        sa.UniqueConstraint("case_id", "idempotency_key"),
    )
    op.create_index("ix_reports_case_id", "reports", ["case_id"])


def downgrade() -> None:
    op.drop_index("ix_reports_case_id", "reports")
    op.drop_table("reports")
    op.drop_table("cases")
