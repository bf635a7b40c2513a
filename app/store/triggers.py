"""Append-only tables: the database itself refuses to change or delete their rows (used by
the migrations that make them)."""

from __future__ import annotations

from alembic import op


def append_only(table: str) -> None:
    """Make the database refuse to change or delete a row of `table` (a trigger)."""
    reason = f"{table} is append-only"
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{reason}'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{reason}'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
    )


def drop_append_only(table: str) -> None:
    """Drop `table` and what made it append-only."""
    op.drop_table(table)  # its triggers with it
    if op.get_bind().dialect.name != "sqlite":
        op.execute(f"DROP FUNCTION {table}_append_only()")
