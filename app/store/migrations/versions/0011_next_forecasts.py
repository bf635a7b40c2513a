"""The next day's forecasts, prepared ahead: at UTC midnight every live forecast ages at once,
and rebuilding them all then held up polls and writes for a minute or more.

Derived data: the table starts empty and fills in the last hours of each day.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "next_forecasts",
        sa.Column("case_id", sa.String(80), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("evidence_on", sa.Date, nullable=False),
        sa.Column("catalog_sha256", sa.String(64), nullable=False),
        sa.Column("reports_hash", sa.String(64), nullable=False),
        sa.Column("reports_used", sa.Integer, nullable=False),
        sa.Column("reports_left_out", sa.Integer, nullable=False),
        sa.Column("log_likelihoods", sa.JSON, nullable=False),
        sa.Column("artifact_id", sa.String(40), nullable=False),
        sa.Column("etag", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("means", sa.JSON, nullable=False),
        sa.Column("basis", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("next_forecasts")
