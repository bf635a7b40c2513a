"""How cases end: each resolution, correction and withdrawal appended to a record that is
never rewritten; the case itself carries its current resolution, read with its lock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.schemas import ResolutionIn
from app.store import keys
from app.store.cases import get_case
from app.store.tables import CaseRow, ResolutionRow
from models.errors import ConflictError, InputError
from models.timeline import outside_period


def resolve(
    session: Session, case_id: str, resolution: ResolutionIn, by: str, today: dt.date
) -> ResolutionRow:
    """Resolve the case (the case locked by the caller), or correct its resolution if it has
    one; audited, in the caller's transaction."""
    case = get_case(session, case_id)
    day = resolution.resolved_on
    if day > today:
        raise InputError("body.resolved_on", f"{day} is in the future")
    if (reason := outside_period(day, case.opened_on)) is not None:
        raise InputError("body.resolved_on", reason)
    action = "correct" if case.resolved_as is not None else "resolve"
    entry = ResolutionRow(
        case_id=case_id,
        action=action,
        **resolution.model_dump(),
        recorded_at=dt.datetime.now(dt.UTC),
        recorded_by=by,
    )
    session.add(entry)
    case.resolved_as, case.resolved_on = resolution.outcome, day
    session.flush()
    detail = resolution.model_dump(mode="json") | {"entry": entry.id}
    keys.record(session.connection(), by, f"resolution.{action}", case_id, detail)
    return entry


def withdraw(session: Session, case_id: str, note: str, by: str) -> ResolutionRow:
    """Withdraw the case's resolution (it is live or historical again), keeping the record;
    a case without one is a conflict."""
    case = get_case(session, case_id)
    if case.resolved_as is None:
        raise ConflictError("path.case_id", f"case {case_id!r} is not resolved")
    entry = ResolutionRow(
        case_id=case_id,
        action="withdraw",
        note=note,
        recorded_at=dt.datetime.now(dt.UTC),
        recorded_by=by,
    )
    session.add(entry)
    case.resolved_as, case.resolved_on = None, None
    session.flush()
    detail = {"entry": entry.id, "note": note}
    keys.record(session.connection(), by, "resolution.withdraw", case_id, detail)
    return entry


def record_of(session: Session, case_id: str) -> list[ResolutionRow]:
    """Every resolution, correction and withdrawal of the case, oldest first."""
    get_case(session, case_id)
    query = select(ResolutionRow).where(ResolutionRow.case_id == case_id)
    return list(session.scalars(query.order_by(ResolutionRow.id)))


def standing(entries: Sequence[ResolutionRow]) -> ResolutionRow | None:
    """The entry a record (oldest first) stands at: its last, unless that one withdrew the
    resolution (None: the case is open)."""
    return entries[-1] if entries and entries[-1].action != "withdraw" else None


def current(session: Session, case_id: str) -> ResolutionRow | None:
    """The entry that resolved the case as it stands (None when unresolved); the caller knows
    the case exists."""
    latest = session.scalar(
        select(ResolutionRow)
        .where(ResolutionRow.case_id == case_id)
        .order_by(ResolutionRow.id.desc())
        .limit(1)
    )
    return standing([] if latest is None else [latest])


def resolved_cases(session: Session) -> list[tuple[CaseRow, ResolutionRow]]:
    """Every resolved case with the entry that resolved it (its record's latest), by id: one
    read."""
    latest = select(func.max(ResolutionRow.id)).group_by(ResolutionRow.case_id)
    query = (
        select(CaseRow, ResolutionRow)
        .join(ResolutionRow, ResolutionRow.case_id == CaseRow.id)
        .where(ResolutionRow.id.in_(latest), ResolutionRow.action != "withdraw")
        .order_by(CaseRow.id)
    )
    return [(case, entry) for case, entry in session.execute(query)]
