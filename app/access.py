"""Who may do what: the one judgement of a presented key, made wherever the key was looked up
(a dependency in the thread pool; the report writer, inside the write's own transaction)."""

from __future__ import annotations

from fastapi import HTTPException, status

from app.store.keys import Actor, KeyFacts, Role


def judge(key: KeyFacts | None, keys_exist: bool, role: Role, action: str) -> Actor:
    """The key's name and role if it may `action`: 503 when the service has no key at all,
    401 for an unknown or revoked key, 403 for a key whose role may not."""
    if key is None and not keys_exist:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"no key is set: nobody may {action}"
        )
    if key is None or key.revoked_at is not None:
        reason = (
            f"this key was revoked: it may not {action}"
            if key is not None
            else f"a valid bearer token is required to {action}"
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"}
        )
    actor = Actor(key.name, key.role)  # type: ignore[arg-type]
    if not actor.may(role):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"key {actor.name!r} has the role {actor.role}: to {action} needs the role {role}",
        )
    return actor
