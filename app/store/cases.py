"""Cases in storage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from app.schemas import CaseIn
from app.store import keys
from app.store.db import WRITER
from app.store.pages import Page, keyset, split
from app.store.tables import CaseRow
from models.catalog import OUTCOMES, OutcomeProbabilities, kind_of, prior_sum_error
from models.errors import ConflictError, InputError, NotFoundError
from models.forecast import Prior
from models.timeline import outside_period
from models.yamlio import did_you_mean

DEFAULT_PERIOD = dt.timedelta(days=365)
"""How far back a case's reports may go unless it says (`opened_on`)."""


class CaseHead(NamedTuple):
    """What a write needs of its case, read with the case's lock: whose prior it starts from,
    the period it is about and its clock."""

    id: str
    kind: str
    outcome_prior: dict[str, float] | None
    opened_on: dt.date
    clock: dt.date | None
    resolved_on: dt.date | None

    @classmethod
    def of(cls, row: CaseRow) -> CaseHead:
        return cls(row.id, row.kind, row.outcome_prior, row.opened_on, row.clock, row.resolved_on)

    def now(self, today: dt.date) -> dt.date:
        """The case's "now": its clock if it is historical, else `today`; never past its
        resolution (a resolved case's forecasts are frozen there)."""
        now = today if self.clock is None else self.clock
        return now if self.resolved_on is None else min(now, self.resolved_on)

    @property
    def pinned(self) -> bool:
        """Whether its now is a fixed date (historical or resolved), not today."""
        return self.clock is not None or self.resolved_on is not None

    @property
    def prior(self) -> Prior:
        """The case's outcome prior: the analyst's, else its kind's population prior."""
        if self.outcome_prior is None:
            return Prior(self.kind)
        return Prior(self.kind, "case", tuple(self.outcome_prior[o] for o in OUTCOMES))


def create_case(session: Session, case: CaseIn, by: str) -> CaseRow:
    """Store a new case, created by the key named `by` (audited); an existing id is a
    conflict (nothing is changed). A kind left out follows from the patron; one that
    contradicts it is refused."""
    implied = kind_of(case.patron)
    if case.kind is not None and case.kind != implied:
        reason = f"a {case.kind} case {'has' if case.kind == 'join_war' else 'has no'} patron"
        raise InputError("body.kind", reason)
    check_prior(case.outcome_prior, "body.outcome_prior")
    created_at = dt.datetime.now(dt.UTC)
    opened_on = case.opened_on or created_at.date() - DEFAULT_PERIOD
    check_dates(opened_on, case.clock, created_at.date())
    begin_writing(session)  # SQLite: wait for the write lock now, not fail on it at the insert
    if session.get(CaseRow, case.id) is not None:
        raise ConflictError("body.id", f"case {case.id!r} already exists")
    fields = case.model_dump() | {"kind": implied, "opened_on": opened_on}
    row = CaseRow(**fields, created_at=created_at, created_by=by)
    session.add(row)
    session.flush()
    detail = {"case": case.model_dump(mode="json", exclude_none=True)}
    keys.record(session.connection(), by, "case.create", case.id, detail)
    session.commit()
    return row


def check_prior(prior: OutcomeProbabilities | None, where: str) -> None:
    """A fixed outcome prior must sum to 1 (InputError naming `where` otherwise)."""
    reason = None if prior is None else prior_sum_error(prior)
    if reason is not None:
        raise InputError(where, reason)


def check_dates(opened_on: dt.date, clock: dt.date | None, today: dt.date) -> None:
    """A case's period opens by today, and a historical case's clock is within it."""
    if opened_on > today:
        raise InputError("body.opened_on", f"{opened_on} is in the future")
    if clock is not None and clock > today:
        raise InputError("body.clock", f"{clock} is in the future")
    if clock is not None and (reason := outside_period(clock, opened_on)) is not None:
        raise InputError("body.clock", reason)


def set_clock(session: Session, case_id: str, clock: dt.date | None, today: dt.date) -> CaseHead:
    """Within the caller's transaction, the case locked: pin its clock (historical) or free it
    (None: live)."""
    row = get_case(session, case_id)
    check_dates(row.opened_on, clock, today)
    row.clock = clock
    session.flush()
    return CaseHead.of(row)


def set_prior(session: Session, case_id: str, prior: OutcomeProbabilities | None) -> CaseHead:
    """Within the caller's transaction, the case locked: fix its outcome prior (None: back to
    its kind's population prior)."""
    check_prior(prior, "body.outcome_prior")
    row = get_case(session, case_id)
    row.outcome_prior = None if prior is None else prior.model_dump()
    session.flush()
    return CaseHead.of(row)


def list_cases(session: Session, page: Page) -> tuple[Sequence[CaseRow], tuple[str] | None]:
    """A page of the cases in the order of their ids, and where the next page starts (None:
    no more)."""
    order = (CaseRow.id,)
    return split(session.scalars(keyset(select(CaseRow), order, page)).all(), page, order)


def begin_writing(session: Session) -> None:
    """Begin the session's transaction as a writer (SQLite: take the database's one write lock
    now, before reading what will be updated). Must come before the session's first statement."""
    session.connection(execution_options={WRITER: True})


def lock_case(session: Session, case_id: str) -> CaseHead:
    """Make the transaction the case's only writer until it ends (PostgreSQL: a row lock;
    SQLite: `begin_writing` has done it), and read what a write needs of it. NotFoundError
    for an unknown case."""
    locked = session.connection().execute(_LOCK, {"case_id": case_id}).first()
    if locked is None:
        raise _not_found(session, case_id)
    return CaseHead(*locked)


LOCK_COLUMNS = select(
    CaseRow.id,
    CaseRow.kind,
    CaseRow.outcome_prior,
    CaseRow.opened_on,
    CaseRow.clock,
    CaseRow.resolved_on,
)
"""What a write reads of a case as it locks it (a `CaseHead`)."""
_LOCK = LOCK_COLUMNS.where(CaseRow.id == bindparam("case_id")).with_for_update()


def case_head(session: Session, case_id: str) -> CaseHead:
    """What a forecast needs of a case (NotFoundError for an unknown case), without a lock."""
    row = get_case(session, case_id)
    return CaseHead.of(row)


def get_case(session: Session, case_id: str) -> CaseRow:
    """The case with this id; NotFoundError, with the closest id as a suggestion, otherwise."""
    row = session.get(CaseRow, case_id)
    if row is None:
        raise _not_found(session, case_id)
    return row


def _not_found(session: Session, case_id: str) -> NotFoundError:
    known = session.scalars(select(CaseRow.id)).all()
    return NotFoundError("path.case_id", f"no case {case_id!r}{did_you_mean(case_id, known)}")
