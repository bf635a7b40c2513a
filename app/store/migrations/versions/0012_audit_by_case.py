"""A case's audit entries indexed in the order they were written, (case_id, id): an event
stream reads what a case's writes changed since the entry it last saw (and on PostgreSQL the
index on case_id alone would have it scan every entry of a busy case).

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_log_by_case", "audit_log", ["case_id", "id"])
    op.drop_index("ix_audit_log_case_id", "audit_log")  # the new index's first column does it


def downgrade() -> None:
    op.create_index("ix_audit_log_case_id", "audit_log", ["case_id"])
    op.drop_index("ix_audit_log_by_case", "audit_log")
