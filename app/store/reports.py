"""Reports in storage: add (all or nothing, idempotent by key), list, retract. Writes join the
caller's transaction, which keeps the case's live forecast in step (`app.live`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, insert, select
from sqlalchemy.orm import Session

from app.schemas import ReportIn
from app.store.cases import get_case
from app.store.tables import ReportRow
from models.errors import NotFoundError

REPORT_COLUMNS = tuple(ReportRow.__table__.columns)


def add_reports(
    session: Session, case_id: str, reports: Sequence[ReportIn]
) -> tuple[list[Row[Any]], list[Row[Any]]]:
    """Add reports to the caller's transaction, the case locked (`lock_case`): (one row per
    report, the rows new to the store). A report whose idempotency key is already stored for
    this case, or comes earlier in `reports`, is not stored again: that row is returned in its
    place. Core statements, one INSERT for all the new rows: this is the hot path of a POST,
    and the ORM's unit of work was most of the writer's time (measured)."""
    connection = session.connection()
    keys = [r.idempotency_key for r in reports if r.idempotency_key is not None]
    known: dict[str | None, Row[Any]] = {}
    if keys:
        query = select(*REPORT_COLUMNS).where(
            ReportRow.case_id == case_id, ReportRow.idempotency_key.in_(keys)
        )
        known = {row.idempotency_key: row for row in connection.execute(query)}
    now = dt.datetime.now(dt.UTC)
    fresh: list[dict[str, Any]] = []
    slots: list[Row[Any] | int] = []  # a stored row, or the index of a fresh one
    pending: dict[str, int] = {}  # the same key twice in one batch: stored once
    for report in reports:
        key = report.idempotency_key
        if key in known:
            slots.append(known[key])
        elif key is not None and key in pending:
            slots.append(pending[key])
        else:
            if key is not None:
                pending[key] = len(fresh)
            slots.append(len(fresh))
            fresh.append({"case_id": case_id, "received_at": now, **report.model_dump()})
    new: list[Row[Any]] = []
    if fresh:
        insert_rows = insert(ReportRow).returning(*REPORT_COLUMNS, sort_by_parameter_order=True)
        new = list(connection.execute(insert_rows, fresh))
    return [new[slot] if isinstance(slot, int) else slot for slot in slots], new


def list_reports(
    session: Session,
    case_id: str,
    indicator: str | None = None,
    since: dt.date | None = None,
) -> list[ReportRow]:
    """A case's reports, retracted ones included, oldest observation first."""
    get_case(session, case_id)
    query = select(ReportRow).where(ReportRow.case_id == case_id)
    if indicator is not None:
        query = query.where(ReportRow.indicator == indicator)
    if since is not None:
        query = query.where(ReportRow.observed_on >= since)
    return list(session.scalars(query.order_by(ReportRow.observed_on, ReportRow.id)))


def retract_report(session: Session, case_id: str, report_id: int) -> tuple[ReportRow, bool]:
    """Mark a report retracted in the caller's transaction, the case locked (it stays in the
    audit trail): (the report, whether it was retracted now rather than before)."""
    row = session.get(ReportRow, report_id)
    if row is None or row.case_id != case_id:
        raise NotFoundError("report_id", f"case {case_id!r} has no report {report_id}")
    if row.retracted_at is not None:
        return row, False
    row.retracted_at = dt.datetime.now(dt.UTC)
    return row, True
