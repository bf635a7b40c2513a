"""Alert rules and their outbox of deliveries: what is stored, claimed and settled."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.schemas import AlertIn
from app.store.pages import Page, keyset, split
from app.store.tables import AlertDeliveryRow, AlertRuleRow, CaseRow
from models.errors import NotFoundError

ACTIVE = AlertRuleRow.deleted_at.is_(None)


def create_rule(
    session: Session, case_id: str, rule: AlertIn, armed: bool, by: str
) -> AlertRuleRow:
    """Store a rule for the case (locked by the caller), armed or waiting to re-arm, with its
    secret (the one given, else a new one), in the caller's transaction."""
    row = AlertRuleRow(
        case_id=case_id,
        **rule.model_dump(exclude={"secret"}),
        secret=rule.secret or secrets.token_urlsafe(32),
        armed=armed,
        created_at=dt.datetime.now(dt.UTC),
        created_by=by,
    )
    session.add(row)
    session.flush()
    return row


def rules_of(session: Session, case_id: str) -> list[tuple[AlertRuleRow, AlertDeliveryRow | None]]:
    """The case's rules, deleted ones too (they stay, as a record), each with its latest
    delivery."""
    rules = list(
        session.scalars(
            select(AlertRuleRow).where(AlertRuleRow.case_id == case_id).order_by(AlertRuleRow.id)
        )
    )
    latest = (
        select(func.max(AlertDeliveryRow.id))
        .where(AlertDeliveryRow.rule_id.in_([rule.id for rule in rules]))
        .group_by(AlertDeliveryRow.rule_id)
    )
    deliveries = session.scalars(select(AlertDeliveryRow).where(AlertDeliveryRow.id.in_(latest)))
    last = {delivery.rule_id: delivery for delivery in deliveries}
    return [(rule, last.get(rule.id)) for rule in rules]


def rule_of(session: Session, case_id: str, rule_id: int) -> AlertRuleRow:
    rule = session.get(AlertRuleRow, rule_id)
    if rule is None or rule.case_id != case_id:
        raise NotFoundError("path.rule_id", f"case {case_id!r} has no alert rule {rule_id}")
    return rule


def delete_rule(session: Session, case_id: str, rule_id: int, by: str) -> tuple[AlertRuleRow, bool]:
    """Stop a rule (it stays listed) and cancel its pending deliveries, in the caller's
    transaction: (the rule, whether it was stopped now)."""
    rule = rule_of(session, case_id, rule_id)
    if rule.deleted_at is not None:
        return rule, False
    rule.deleted_at, rule.deleted_by = dt.datetime.now(dt.UTC), by
    session.execute(
        update(AlertDeliveryRow)
        .where(AlertDeliveryRow.rule_id == rule_id, AlertDeliveryRow.state == "pending")
        .values(state="cancelled", lease_until=None)
    )
    session.flush()
    return rule, True


def deliveries_of(
    session: Session, rule_id: int, page: Page
) -> tuple[Sequence[AlertDeliveryRow], tuple[Any, ...] | None]:
    """A page of the rule's delivery log by delivery id, and where the next page starts (None:
    no more)."""
    key = (AlertDeliveryRow.id,)
    query = keyset(select(AlertDeliveryRow).where(AlertDeliveryRow.rule_id == rule_id), key, page)
    return split(list(session.scalars(query)), page, key)


class Due(NamedTuple):
    """A delivery claimed by this process, with where it goes and how it is signed."""

    id: int
    idempotency_key: str
    payload: str
    attempts: int
    url: str
    secret: str


def _claimable(now: dt.datetime) -> object:
    lease_over = or_(AlertDeliveryRow.lease_until.is_(None), AlertDeliveryRow.lease_until < now)
    return and_(
        AlertDeliveryRow.state == "pending", AlertDeliveryRow.next_attempt_at <= now, lease_over
    )


def due_ids(connection: Connection, now: dt.datetime, limit: int) -> list[int]:
    """The pending deliveries that are due and not leased by a live process (a read: what
    every process asks, often)."""
    query = (
        select(AlertDeliveryRow.id)
        .where(_claimable(now))  # type: ignore[arg-type]
        .order_by(AlertDeliveryRow.id)
        .limit(limit)
    )
    return list(connection.scalars(query))


def claim(
    session: Session, ids: list[int], now: dt.datetime, lease_until: dt.datetime
) -> list[Due]:
    """Lease those of `ids` still claimable, in the caller's transaction: another process
    that asked at the same time takes none of them (each lease is a compare-and-set)."""
    claimed = []
    for delivery_id in ids:
        taken = session.execute(
            update(AlertDeliveryRow)
            .where(AlertDeliveryRow.id == delivery_id, _claimable(now))  # type: ignore[arg-type]
            .values(lease_until=lease_until)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            claimed.append(delivery_id)
    rows = session.execute(
        select(
            AlertDeliveryRow.id,
            AlertDeliveryRow.idempotency_key,
            AlertDeliveryRow.payload,
            AlertDeliveryRow.attempts,
            AlertRuleRow.url,
            AlertRuleRow.secret,
        )
        .join(AlertRuleRow, AlertRuleRow.id == AlertDeliveryRow.rule_id)
        .where(AlertDeliveryRow.id.in_(claimed))
        .order_by(AlertDeliveryRow.id)
    )
    return [Due(*row) for row in rows]


class Attempt(NamedTuple):
    """How one attempt went: the receiver's status (None if it was not reached) and the
    fault, if it failed."""

    at: dt.datetime
    status: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.error is None


def settle(session: Session, due: Due, attempt: Attempt, retry_at: dt.datetime | None) -> None:
    """Record an attempt and release the lease, in the caller's transaction: delivered, to be
    tried again at `retry_at`, or (retry_at None) abandoned. A rule stopped meanwhile keeps
    its delivery cancelled."""
    values: dict[str, object] = {
        "attempts": due.attempts + 1,
        "last_attempt_at": attempt.at,
        "last_status": attempt.status,
        "last_error": attempt.error,
        "lease_until": None,
    }
    if attempt.delivered:
        values |= {"state": "delivered", "delivered_at": attempt.at}
    elif retry_at is None:
        values |= {"state": "abandoned"}
    else:
        values |= {"next_attempt_at": retry_at}
    session.execute(
        update(AlertDeliveryRow)
        .where(AlertDeliveryRow.id == due.id, AlertDeliveryRow.state == "pending")
        .values(**values)
    )


def ageing_cases(session: Session) -> list[str]:
    """Live, open cases with a rule that ageing alone may fire: their forecast must be brought up to
    date each day even if nobody reads it."""
    query = (
        select(AlertRuleRow.case_id)
        .join(CaseRow, CaseRow.id == AlertRuleRow.case_id)
        .where(ACTIVE, AlertRuleRow.min_reports == 0)
        .where(CaseRow.clock.is_(None), CaseRow.resolved_on.is_(None))
        .distinct()
    )
    return list(session.scalars(query))
