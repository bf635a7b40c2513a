"""Bounded reads: a list (a case's history, its reports, the cases) comes a page at a time, and
while there is more the answer's `Link` header (RFC 8288) gives the next page's address,
rel="next". Its cursor names the page's last item; clients follow the link, they need not read
the cursor."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Response

from app.store.pages import Page
from models.contract import CASE_ID, MAX_CURSOR, MAX_ROW_ID, PAGE_DEFAULT, PAGE_MAX
from models.errors import EvidenceError

type KeyPart = type[int] | type[str] | type[dt.date]
"""A part of a list's order key: a row id, a case id or a date."""

LINK_HEADER = {
    "Link": {
        "description": 'The next page\'s address, rel="next", while there is more.',
        "schema": {"type": "string"},
    }
}
PAGED: dict[int | str, dict[str, Any]] = {
    200: {"description": "A page of the list.", "headers": LINK_HEADER}
}
"""What the OpenAPI document says of every paged answer."""


def cursor_of(key: tuple[Any, ...]) -> str:
    """The cursor that continues a list after the item with this order key."""
    text = json.dumps([part.isoformat() if isinstance(part, dt.date) else part for part in key])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _key_of(cursor: str, parts: tuple[KeyPart, ...]) -> tuple[Any, ...]:
    """The order key a cursor names, checked against the list's key parts."""
    refused = EvidenceError("query.cursor", "not a cursor that this list gave")
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise refused from None
    if not isinstance(values, list) or len(values) != len(parts):
        raise refused
    try:
        return tuple(_part(value, part) for value, part in zip(values, parts, strict=True))
    except ValueError:
        raise refused from None


def _part(value: Any, part: KeyPart) -> Any:
    """One part of an order key as the store compares it; ValueError if it cannot be one (a
    row id beyond the column's range, a case id that could not be one: what would reach the
    database is what it can take)."""
    if part is int and type(value) is int and 0 <= value <= MAX_ROW_ID:
        return value
    if part is str and isinstance(value, str) and re.fullmatch(CASE_ID, value):
        return value
    if part is dt.date and isinstance(value, str):
        return dt.date.fromisoformat(value)
    raise ValueError(value)


def paging(*parts: KeyPart, newest_first: bool = False) -> Callable[..., Any]:
    """A dependency reading a page of a list whose order key has these parts, in ascending
    order unless asked (or, for a log, `newest_first` unless asked)."""

    async def page(
        limit: Annotated[
            int, Query(ge=1, le=PAGE_MAX, description="Items in the page, at most.")
        ] = PAGE_DEFAULT,
        cursor: Annotated[
            str | None,
            Query(max_length=MAX_CURSOR, description="Where the page starts (from a Link)."),
        ] = None,
        order: Annotated[
            Literal["asc", "desc"], Query(description="Oldest first (asc) or newest first.")
        ] = "desc" if newest_first else "asc",
    ) -> Page:
        after = None if cursor is None else _key_of(cursor, parts)
        return Page(limit, after, order == "desc")

    return page


HistoryPage = Annotated[Page, Depends(paging(int))]
ReportsPage = Annotated[Page, Depends(paging(dt.date, int))]
CasesPage = Annotated[Page, Depends(paging(str))]


def _log_page(
    page: Annotated[Page, Depends(paging(int, newest_first=True))],
    before: Annotated[
        int | None,
        Query(
            ge=1,
            le=MAX_ROW_ID,
            deprecated=True,
            description="Entries older than this id, newest first (the Link's cursor replaces it).",
        ),
    ] = None,
) -> Page:
    """A page of a log (the audit log, a rule's deliveries) by id, newest first unless asked;
    `before`, the pager these logs had before links, still reads the page older than an id."""
    if before is None:
        return page
    if page.after is not None:
        raise EvidenceError("query.before", "give a cursor or before, not both")
    return Page(page.limit, (before,), descending=True)


LogPage = Annotated[Page, Depends(_log_page)]


def paged(request: Request, content: str, after: tuple[Any, ...] | None) -> Response:
    """A page's answer (JSON `content`), linking to the next page when `after`, the order key
    of the page's last item, is given (more items follow it)."""
    response = Response(content, media_type="application/json")
    if after is not None:
        following = request.url.include_query_params(cursor=cursor_of(after))
        response.headers["Link"] = f'<{following}>; rel="next"'
    return response
