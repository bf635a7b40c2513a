"""Cases in storage."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.schemas import CaseIn
from app.store.db import WRITER
from app.store.tables import CaseRow
from models.errors import ConflictError, NotFoundError
from models.yamlio import did_you_mean


def create_case(session: Session, case: CaseIn) -> CaseRow:
    """Store a new case; an existing id is a conflict (nothing is changed)."""
    if session.get(CaseRow, case.id) is not None:
        raise ConflictError("id", f"case {case.id!r} already exists")
    row = CaseRow(**case.model_dump(), created_at=dt.datetime.now(dt.UTC))
    session.add(row)
    session.commit()
    return row


def list_cases(session: Session) -> list[CaseRow]:
    return list(session.scalars(select(CaseRow).order_by(CaseRow.id)))


def begin_writing(session: Session) -> None:
    """Begin the session's transaction as a writer (SQLite: take the database's one write lock
    now, before reading what will be updated). Must come before the session's first statement."""
    session.connection(execution_options={WRITER: True})


def lock_case(session: Session, case_id: str) -> None:
    """Make the transaction the case's only writer until it ends (PostgreSQL: a row lock;
    SQLite: `begin_writing` has done it). NotFoundError for an unknown case."""
    locked = session.connection().execute(_LOCK, {"case_id": case_id}).first()
    if locked is None:
        get_case(session, case_id)  # raises, naming the closest case


_LOCK = select(CaseRow.id).where(CaseRow.id == bindparam("case_id")).with_for_update()


def get_case(session: Session, case_id: str) -> CaseRow:
    """The case with this id; NotFoundError, with the closest id as a suggestion, otherwise."""
    row = session.get(CaseRow, case_id)
    if row is None:
        known = session.scalars(select(CaseRow.id)).all()
        raise NotFoundError("case_id", f"no case {case_id!r}{did_you_mean(case_id, known)}")
    return row
