"""Live forecasts: each case's evidence summed per indicator, and its current forecast as served.

Derived data: the table starts empty and fills as cases are read or written.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_forecasts",
        sa.Column("case_id", sa.String(80), sa.ForeignKey("cases.id"), primary_key=True),
        sa.Column("evidence_on", sa.Date, nullable=False),
        sa.Column("catalog_sha256", sa.String(64), nullable=False),
        sa.Column("reports_hash", sa.String(64), nullable=False),
        sa.Column("reports_used", sa.Integer, nullable=False),
        sa.Column("log_likelihoods", sa.JSON, nullable=False),
        sa.Column("artifact_id", sa.String(40), nullable=False),
        sa.Column("etag", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("live_forecasts")
