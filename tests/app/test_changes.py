"""What a case's writes changed since a cursor (`app.store.changes`), as event streams send it:
the history points recorded and the reports added or retracted, bounded. On both databases."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.store import changes
from app.store.changes import Cursor
from app.store.db import snapshot

from ..service import AUTH, REPORTS, report, service_of


def cursor_now(client: TestClient) -> Cursor:
    with snapshot(service_of(client).database) as connection:
        return changes.cursor_of(connection, "belarus-ukraine-2022")


def changed_since(client: TestClient, cursor: Cursor) -> tuple[dict[str, Any] | None, Cursor]:
    with snapshot(service_of(client).database) as connection:
        members, moved = changes.since(connection, "belarus-ukraine-2022", cursor)
    return (None if members is None else json.loads(f"{{{members}}}")), moved


def test_what_changed_is_the_new_points_and_the_reports_added_or_retracted(
    case: TestClient,
) -> None:
    first = case.post(REPORTS, json=report(), headers=AUTH).json()["reports"][0]
    start = cursor_now(case)
    assert changed_since(case, start) == ({"history": [], "reports": []}, start)
    added = case.post(REPORTS, json=[report(indicator="pretext_claims")] * 2, headers=AUTH)
    case.delete(f"{REPORTS}/{first['id']}", headers=AUTH)
    changed, moved = changed_since(case, start)
    assert changed is not None and moved == cursor_now(case)
    assert [r["id"] for r in changed["reports"]] == [first["id"]] + [
        r["id"] for r in added.json()["reports"]
    ]
    assert changed["reports"][0]["retracted_at"] is not None  # as stored now
    history = case.get("/v1/cases/belarus-ukraine-2022/forecast/history").json()
    assert changed["history"] == history[-2:]  # one point per write
    assert changed_since(case, moved) == ({"history": [], "reports": []}, moved)


def test_too_much_change_is_not_carried(case: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    start = cursor_now(case)
    monkeypatch.setattr(changes, "MAX_CHANGED", 2)
    for indicator in ("pretext_claims", "rhetoric_shift", "troop_shortfall"):
        case.post(REPORTS, json=report(indicator=indicator), headers=AUTH)
    changed, moved = changed_since(case, start)
    assert changed is None and moved == cursor_now(case)  # the pages read their lists again
