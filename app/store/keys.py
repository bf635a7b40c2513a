"""Named API keys with a role each, stored as the sha256 of their secret, and the audit log
every write appends to."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import secrets
from collections.abc import Sequence
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, bindparam, func, insert, select
from sqlalchemy.orm import Session

from app.store.pages import Page, keyset, split
from app.store.tables import ApiKeyRow, AuditRow
from models.errors import ConflictError, NotFoundError

type Role = Literal["reader", "analyst", "admin"]
ROLES: tuple[Role, ...] = ("reader", "analyst", "admin")
"""Each role may do what the roles before it may: read; enter reports and cases; keys, audit."""
SECRET_PREFIX = "esc_"


class KeyFacts(NamedTuple):
    """What a key's judgement needs (`app.access.judge`), read without the ORM."""

    name: str
    role: str
    revoked_at: dt.datetime | None


class Actor(NamedTuple):
    """Who makes a request: a key's name and role."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def digest(secret: str) -> str:
    """What is stored of a secret. Secrets are 256 random bits: a plain hash is enough (no
    dictionary to guess from), and one lookup by it finds the key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def find(connection: Connection, secrets_sent: set[str]) -> tuple[dict[str, KeyFacts], bool]:
    """The keys with these secrets (name, role, revoked_at), by secret, and whether the
    service has any key at all: one read, or two when none is found (a writer's whole group
    of POSTs; Core: a write's hot path). Each digest is compared in constant time once found."""
    by_digest = {digest(secret): secret for secret in secrets_sent if secret}
    found: dict[str, KeyFacts] = {}
    if by_digest:
        for row in connection.execute(_FIND, {"digests": list(by_digest)}):
            wanted = next(
                (d for d in by_digest if secrets.compare_digest(d, row.secret_sha256)), None
            )
            if wanted is not None:
                found[by_digest[wanted]] = KeyFacts(row.name, row.role, row.revoked_at)
    return found, bool(found) or connection.scalar(_ANY) is not None


_FIND = select(ApiKeyRow.name, ApiKeyRow.role, ApiKeyRow.revoked_at, ApiKeyRow.secret_sha256).where(
    ApiKeyRow.secret_sha256.in_(bindparam("digests", expanding=True))
)
_ANY = select(ApiKeyRow.name).limit(1)


def create_key(session: Session, name: str, role: Role, by: str) -> tuple[ApiKeyRow, str]:
    """A new key and its secret (shown once, stored only as its hash), in the caller's
    transaction; an existing name is a conflict."""
    if session.get(ApiKeyRow, name) is not None:
        raise ConflictError("body.name", f"a key named {name!r} exists (names are never reused)")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    row = _row(name, role, secret, by)
    session.add(row)
    session.flush()
    return row, secret


def ensure_key(session: Session, secret: str, name: str, role: Role) -> None:
    """Store `secret` as a key (the service's configured token, its first admin key) unless
    it is one already; under the first free name of `name`, `name-2`, ..."""
    if secret in find(session.connection(), {secret})[0]:
        return
    taken = set(session.scalars(select(ApiKeyRow.name)))
    candidates = itertools.chain([name], (f"{name}-{i}" for i in itertools.count(2)))
    free = next(n for n in candidates if n not in taken)
    session.add(_row(free, role, secret, None))
    session.commit()


def _row(name: str, role: Role, secret: str, by: str | None) -> ApiKeyRow:
    now = dt.datetime.now(dt.UTC)
    return ApiKeyRow(
        name=name, role=role, secret_sha256=digest(secret), created_at=now, created_by=by
    )


def list_keys(session: Session) -> list[ApiKeyRow]:
    return list(session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at, ApiKeyRow.name)))


def revoke_key(session: Session, name: str) -> tuple[ApiKeyRow, bool]:
    """Revoke a key in the caller's transaction (it stays listed): (the key, whether it was
    revoked now). The last admin key that is not revoked cannot be: nobody could then manage
    keys."""
    row = session.get(ApiKeyRow, name)
    if row is None:
        raise NotFoundError("path.name", f"no key named {name!r}")
    if row.revoked_at is not None:
        return row, False
    if row.role == "admin":
        admins = select(func.count()).where(
            ApiKeyRow.role == "admin", ApiKeyRow.revoked_at.is_(None)
        )
        if session.scalar(admins) == 1:
            raise ConflictError("path.name", f"{name!r} is the last admin key: make another first")
    row.revoked_at = dt.datetime.now(dt.UTC)
    session.flush()
    return row, True


def record(
    connection: Connection,
    actor: str,
    action: str,
    case_id: str | None,
    detail: dict[str, Any],
) -> None:
    """Append one write to the audit log, in the caller's transaction."""
    record_each(connection, action, case_id, [(actor, detail)])


def record_each(
    connection: Connection,
    action: str,
    case_id: str | None,
    writes: Sequence[tuple[str, dict[str, Any]]],
) -> None:
    """Append writes of one kind on one case, each its actor and detail, to the audit log in
    the caller's transaction: one statement for them all (the report writer's group)."""
    at = dt.datetime.now(dt.UTC)
    connection.execute(
        _APPEND,
        [
            {"at": at, "actor": actor, "action": action, "case_id": case_id, "detail": detail}
            for actor, detail in writes
        ],
    )


_APPEND = insert(AuditRow)


def audit_entries(
    session: Session, page: Page
) -> tuple[Sequence[AuditRow], tuple[Any, ...] | None]:
    """A page of the audit log by entry id, and where the next page starts (None: no more)."""
    key = (AuditRow.id,)
    return split(list(session.scalars(keyset(select(AuditRow), key, page))), page, key)
