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
from app.store.pages import Page, keyset, split
from app.store.tables import ReportRow
from models.errors import ConflictError, EvidenceError, NotFoundError

REPORT_COLUMNS = tuple(ReportRow.__table__.columns)
_INSERT_RETURNING = insert(ReportRow).returning(*REPORT_COLUMNS, sort_by_parameter_order=True)


def add_reports(
    session: Session,
    case_id: str,
    batches: Sequence[Sequence[ReportIn]],
    entered_by: Sequence[str],
) -> tuple[list[list[Row[Any]] | ConflictError], list[Row[Any]]]:
    """Add batches of reports (each one POST's, all of it or none, entered by the key named
    in `entered_by` beside it) to the caller's transaction, the case locked (`lock_case`):
    (per batch its rows, one per report, or the conflict that refused it; the rows new to the
    store).

    A report whose idempotency key is already stored for this case, or came earlier, is a
    retry: the row that has the key is returned in its place, and nothing is stored twice. A
    key that comes with different content is not a retry but a mistake: its batch is refused
    with a ConflictError saying so, rather than answered with a row that is not what was sent.
    Core statements, one INSERT for every new row: this is the hot path of a POST, and the
    ORM's unit of work was most of the writer's time (measured)."""
    connection = session.connection()
    keys = {r.idempotency_key for batch in batches for r in batch if r.idempotency_key}
    known: dict[str, Row[Any] | int] = {}  # a key's stored row, or the index of its fresh one
    if keys:
        query = select(*REPORT_COLUMNS).where(
            ReportRow.case_id == case_id, ReportRow.idempotency_key.in_(keys)
        )
        known = {row.idempotency_key: row for row in connection.execute(query)}
    now = dt.datetime.now(dt.UTC)
    fresh: list[dict[str, Any]] = []
    plans = [
        _plan(batch, {"case_id": case_id, "received_at": now, "entered_by": by}, known, fresh)
        for batch, by in zip(batches, entered_by, strict=True)
    ]
    new: list[Row[Any]] = []
    if fresh:
        new = list(connection.execute(_INSERT_RETURNING, fresh))
    rows = [
        plan if isinstance(plan, ConflictError) else [_row(slot, new) for slot in plan]
        for plan in plans
    ]
    return rows, new


def _plan(
    batch: Sequence[ReportIn],
    stamp: dict[str, Any],
    known: dict[str, Row[Any] | int],
    fresh: list[dict[str, Any]],
) -> list[Row[Any] | int] | ConflictError:
    """Where each report of `batch` goes (a stored row, or the index of a fresh one appended to
    `fresh`, its key then added to `known`); or, for a key reused with other content, the
    conflict, and nothing of the batch appended."""
    start = len(fresh)
    claimed: dict[str, Row[Any] | int] = {}
    slots: list[Row[Any] | int] = []
    for number, report in enumerate(batch):
        # Known when posted unless it says otherwise.
        fields = stamp | report.model_dump(exclude={"known_at"})
        fields["known_at"] = report.known_at or stamp["received_at"]
        key = report.idempotency_key
        earlier = None if key is None else claimed.get(key, known.get(key))
        if earlier is None:
            if key is not None:
                claimed[key] = len(fresh)
            slots.append(len(fresh))
            fresh.append(fields)
        elif _same(_content(earlier, fresh), _content(fields, fresh), report.known_at is None):
            slots.append(earlier)
        else:
            del fresh[start:]
            which = f"report {earlier.id}" if isinstance(earlier, Row) else "another report"
            reason = (
                f"key {key!r} already belongs to {which} with different content: a retry must "
                "repeat its report exactly, and a new report needs a new key"
            )
            return ConflictError(f"body[{number}].idempotency_key", reason)
    known.update(claimed)
    return slots


CONTENT = ("indicator", "value", "observed_on", "source", "grade", "note", "known_at")
"""What a retry must repeat (the key aside); `known_at` only if the retry gives it, since a
report posted without one is known from its first POST's time."""


def _same(stored: tuple[Any, ...], sent: tuple[Any, ...], known_at_defaulted: bool) -> bool:
    return stored[:-1] == sent[:-1] if known_at_defaulted else stored == sent


def _content(
    report: Row[Any] | int | dict[str, Any], fresh: list[dict[str, Any]]
) -> tuple[Any, ...]:
    if isinstance(report, Row):
        return tuple(getattr(report, name) for name in CONTENT)
    fields = fresh[report] if isinstance(report, int) else report
    return tuple(fields[name] for name in CONTENT)


def _row(slot: Row[Any] | int, new: list[Row[Any]]) -> Row[Any]:
    return new[slot] if isinstance(slot, int) else slot


def list_reports(session: Session, case_id: str) -> list[Row[Any]]:
    """A case's reports, retracted ones included, oldest observation first. Core rows: a
    replay or a timeline reads every report of its case (measured: a fifth of the ORM's
    time for 500 reports)."""
    get_case(session, case_id)
    query = select(*REPORT_COLUMNS).where(ReportRow.case_id == case_id)
    return list(session.execute(query.order_by(*REPORT_ORDER)))


REPORT_ORDER = (ReportRow.observed_on, ReportRow.id)
"""A case's reports are listed in observation order (indexed with the case)."""


def reports_page(
    session: Session,
    case_id: str,
    page: Page,
    indicator: str | None = None,
    since: dt.date | None = None,
) -> tuple[Sequence[Row[Any]], tuple[Any, ...] | None]:
    """A page of a case's reports (retracted ones included) in observation order, only those
    on `indicator` or observed `since` if given, and where the next page starts (None: no
    more)."""
    get_case(session, case_id)
    query = select(*REPORT_COLUMNS).where(ReportRow.case_id == case_id)
    if indicator is not None:
        query = query.where(ReportRow.indicator == indicator)
    if since is not None:
        query = query.where(ReportRow.observed_on >= since)
    return split(session.execute(keyset(query, REPORT_ORDER, page)).all(), page, REPORT_ORDER)


def retract_report(
    session: Session, case_id: str, report_id: int, at: dt.datetime, by: str
) -> tuple[ReportRow, bool]:
    """Mark a report retracted `at` by the key named `by`, in the caller's transaction, the
    case locked (it stays in the audit trail): (the report, whether it was retracted now
    rather than before). A report cannot be withdrawn before it was known (EvidenceError)."""
    row = session.get(ReportRow, report_id)
    if row is None or row.case_id != case_id:
        raise NotFoundError("path.report_id", f"case {case_id!r} has no report {report_id}")
    if row.retracted_at is not None:
        return row, False
    if at < row.known_at:
        reason = f"{at.isoformat()} is before the report was known ({row.known_at.isoformat()})"
        raise EvidenceError("query.retracted_at", reason)
    row.retracted_at, row.retracted_by = at, by
    session.flush()
    return row, True
