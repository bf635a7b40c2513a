"""Named API keys (admin), and the audit log of every write (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import TypeAdapter

from app.api import API
from app.api.deps import AdminDep, SessionDep
from app.api.pages import PAGED, LogPage, paged
from app.api.responses import BODY, WRITE, errors
from app.schemas import AuditEntryOut, KeyIn, KeyOut, NewKeyOut
from app.store import keys
from models.contract import KEY_NAME

router = APIRouter(prefix=API, tags=["keys and audit"])
KeyName = Annotated[str, Path(pattern=KEY_NAME, description="The key's name.")]


@router.post(
    "/keys",
    response_model=NewKeyOut,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE | BODY | errors(409),
)
def create_key(body: KeyIn, session: SessionDep, actor: AdminDep) -> NewKeyOut:
    """Make a named key with a role; its secret is in this answer and nowhere else (only its
    sha256 is stored)."""
    row, secret = keys.create_key(session, body.name, body.role, actor.name)
    keys.record(session.connection(), actor.name, "key.create", None, body.model_dump())
    session.commit()
    return NewKeyOut(**KeyOut.model_validate(row).model_dump(), secret=secret)


@router.get("/keys", response_model=list[KeyOut], responses=WRITE)
def list_keys(session: SessionDep, actor: AdminDep) -> list[KeyOut]:
    """Every key, revoked ones included, without secrets."""
    return [KeyOut.model_validate(row) for row in keys.list_keys(session)]


@router.delete("/keys/{name}", response_model=KeyOut, responses=WRITE | errors(404, 409))
def revoke_key(name: KeyName, session: SessionDep, actor: AdminDep) -> KeyOut:
    """Revoke a key: refused from the next request on, on every worker; it stays listed."""
    row, now_revoked = keys.revoke_key(session, name)
    if now_revoked:
        keys.record(session.connection(), actor.name, "key.revoke", None, {"name": name})
    session.commit()
    return KeyOut.model_validate(row)


@router.get("/audit", response_model=list[AuditEntryOut], responses=WRITE | PAGED)
def audit(request: Request, session: SessionDep, actor: AdminDep, page: LogPage) -> Response:
    """Every write, newest first unless asked, with who made it, a page at a time (`Link`: the
    next page). Entries are appended, never changed."""
    rows, after = keys.audit_entries(session, page)
    return paged(
        request, _ENTRIES.dump_json([AuditEntryOut.model_validate(r) for r in rows]).decode(), after
    )


_ENTRIES = TypeAdapter(list[AuditEntryOut])
