"""Keyset paging for the store's lists: a page is the items after the last one of the page
before, in a fixed order on indexed columns, so a page costs the same however deep it is, and
items added meanwhile are neither skipped nor repeated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, tuple_


@dataclass(frozen=True)
class Page:
    """Which page of a list: at most `limit` items after the item whose order key is `after`
    (None: from the start), in ascending order of the list's key or descending."""

    limit: int
    after: tuple[Any, ...] | None = None
    descending: bool = False


def keyset[S: Select[*tuple[Any, ...]]](query: S, key: Sequence[Any], page: Page) -> S:
    """`query` limited to the page, one item beyond it (which says whether there is more)."""
    order = [column.desc() if page.descending else column.asc() for column in key]
    if page.after is not None:
        stored, after = tuple_(*key), tuple_(*page.after)
        query = query.where(stored < after if page.descending else stored > after)
    return query.order_by(*order).limit(page.limit + 1)


def split[T](
    rows: Sequence[T], page: Page, key: Sequence[Any]
) -> tuple[Sequence[T], tuple[Any, ...] | None]:
    """The page's items (of rows read by `keyset` on `key`), and the order key of the last of
    them if more follow (where the next page starts), else None."""
    items = rows[: page.limit]
    if len(rows) <= page.limit:
        return items, None
    return items, tuple(getattr(items[-1], column.key) for column in key)
