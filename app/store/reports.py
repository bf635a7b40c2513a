"""Reports in storage: add (all or nothing, idempotent by key), list, retract. Writes join the
caller's transaction, which keeps the case's live forecast in step (`app.live`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas import ReportIn
from app.store.cases import get_case
from app.store.tables import ReportRow
from models.errors import NotFoundError


def add_reports(
    session: Session, case_id: str, reports: Sequence[ReportIn]
) -> tuple[list[ReportRow], list[ReportRow]]:
    """Add reports to the caller's transaction, the case locked (`lock_case`): (one row per
    report, the rows new to the store). A report whose idempotency key is already stored for
    this case is not stored again: the stored one is returned in its place. New rows get their
    ids when the caller flushes or commits."""
    keys = [r.idempotency_key for r in reports if r.idempotency_key is not None]
    known = {}
    if keys:
        query = select(ReportRow).where(
            ReportRow.case_id == case_id, ReportRow.idempotency_key.in_(keys)
        )
        known = {row.idempotency_key: row for row in session.scalars(query)}
    now = dt.datetime.now(dt.UTC)
    rows, new = [], []
    for report in reports:
        row = known.get(report.idempotency_key) if report.idempotency_key else None
        if row is None:
            row = ReportRow(case_id=case_id, received_at=now, **report.model_dump())
            session.add(row)
            new.append(row)
            if report.idempotency_key:
                known[report.idempotency_key] = row  # the same key twice in one batch
        rows.append(row)
    return rows, new


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
