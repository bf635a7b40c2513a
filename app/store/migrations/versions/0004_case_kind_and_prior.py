"""Cases carry their kind (join_war or start_war: whose population prior the forecast starts
from) and an analyst's override of their outcome prior.

Existing cases get the kind their patron implies. Live forecasts are dropped: they are derived
data, rebuilt from the reports on the next read, now with the kind's prior and the new model.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "cases", sa.Column("kind", sa.String(16), nullable=False, server_default="join_war")
    )
    op.add_column("cases", sa.Column("outcome_prior", sa.JSON, nullable=True))
    op.execute("UPDATE cases SET kind = 'start_war' WHERE patron IS NULL")
    op.execute("DELETE FROM live_forecasts")


def downgrade() -> None:
    op.drop_column("cases", "outcome_prior")
    op.drop_column("cases", "kind")
