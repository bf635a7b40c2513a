"""Named API keys with a role each, who wrote what, and an append-only audit log.

Keys are stored as the sha256 of their secret, never in clear. Reports record the key that
entered them and the key that retracted them (unknown, NULL, for those written before), cases the
key that created them. Every write adds a row to `audit_log`, which the database itself refuses
to update or delete (a trigger).

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.store.triggers import append_only, drop_append_only

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("name", sa.String(80), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(80), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(80), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("case_id", sa.String(80), nullable=True, index=True),
        sa.Column("detail", sa.JSON, nullable=False),
    )
    append_only("audit_log")
    op.add_column("reports", sa.Column("entered_by", sa.String(80), nullable=True))
    op.add_column("reports", sa.Column("retracted_by", sa.String(80), nullable=True))
    op.add_column("cases", sa.Column("created_by", sa.String(80), nullable=True))


def downgrade() -> None:
    op.drop_column("cases", "created_by")
    op.drop_column("reports", "retracted_by")
    op.drop_column("reports", "entered_by")
    drop_append_only("audit_log")
    op.drop_table("api_keys")
