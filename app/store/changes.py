"""What a case's writes changed since a point of its record (a `Cursor`): the history points
recorded and the reports added or retracted, as an event stream sends them beside the new
forecast (`app.events`), so that an open page need not read its lists again.

Read from the audit log, where every write of reports leaves an entry naming them, and from the
history, each in the order written; bounded: past `MAX_CHANGED` the pages read their lists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select

from app.schemas import reports_json
from app.store.reports import REPORT_COLUMNS, REPORT_ORDER
from app.store.tables import AuditRow, ForecastRow, ReportRow

MAX_CHANGED = 500
"""The most history points, audit entries or reports one change carries."""
REPORT_ACTIONS = ("reports.add", "report.retract")


@dataclass(frozen=True)
class Cursor:
    """Where a case's record stood: its last audit entry and its last history point."""

    audit_id: int
    history_id: int


def cursor_of(connection: Connection, case_id: str) -> Cursor:
    """Where the case's record stands now."""
    return Cursor(
        connection.execute(_LAST_ENTRY, {"case_id": case_id}).scalar() or 0,
        connection.execute(_LAST_POINT, {"case_id": case_id}).scalar() or 0,
    )


def since(connection: Connection, case_id: str, cursor: Cursor) -> tuple[str | None, Cursor]:
    """What changed after `cursor` as JSON (`"history":[points],"reports":[reports]`, the
    reports as stored now, added or retracted, in observation order), or None when it is more
    than `MAX_CHANGED`; and where the record stands now."""
    entries = connection.execute(
        _ENTRIES, {"case_id": case_id, "after": cursor.audit_id, "limit": MAX_CHANGED + 1}
    ).all()
    points = connection.execute(
        _POINTS, {"case_id": case_id, "after": cursor.history_id, "limit": MAX_CHANGED + 1}
    ).all()
    if len(entries) > MAX_CHANGED or len(points) > MAX_CHANGED:
        return None, cursor_of(connection, case_id)
    moved = Cursor(
        entries[-1].id if entries else cursor.audit_id,
        points[-1].id if points else cursor.history_id,
    )
    ids = sorted({number for entry in entries for number in _reports_named(entry)})
    if len(ids) > MAX_CHANGED:
        return None, moved
    reports = connection.execute(_REPORTS, {"ids": ids}).all() if ids else []
    history = ",".join(point.point for point in points)
    return f'"history":[{history}],"reports":{reports_json(reports)}', moved


def _reports_named(entry: Row[Any]) -> list[int]:
    if entry.action not in REPORT_ACTIONS:
        return []
    detail = entry.detail
    return list(detail["reports"]) if "reports" in detail else [detail["report"]]


_LAST_ENTRY = select(func.max(AuditRow.id)).where(AuditRow.case_id == bindparam("case_id"))
_LAST_POINT = select(func.max(ForecastRow.id)).where(ForecastRow.case_id == bindparam("case_id"))
_ENTRIES = (
    select(AuditRow.id, AuditRow.action, AuditRow.detail)
    .where(AuditRow.case_id == bindparam("case_id"), AuditRow.id > bindparam("after"))
    .order_by(AuditRow.id)
    .limit(bindparam("limit"))
)
_POINTS = (
    select(ForecastRow.id, ForecastRow.point)
    .where(ForecastRow.case_id == bindparam("case_id"), ForecastRow.id > bindparam("after"))
    .order_by(ForecastRow.id)
    .limit(bindparam("limit"))
)
_REPORTS = (
    select(*REPORT_COLUMNS)
    .where(ReportRow.id.in_(bindparam("ids", expanding=True)))
    .order_by(*REPORT_ORDER)
)
