"""Named keys with roles, on SQLite and PostgreSQL: each role may do exactly what it should, a
revoked key fails at once on every worker, no secret is stored or logged in clear, and every
write is in the audit log with who made it."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError

from app.forecasting import today
from app.store.db import open_database

from ..service import AUTH, BELARUS, CASE, FORECAST, REPORTS, TOKEN, report

REPORT = report(source="Ukrainian military intelligence")


ALERT = {"url": "http://127.0.0.1:9/hook", "outcome": "direct_invasion", "threshold": 0.9}
RESOLUTION = {"outcome": "no_entry", "resolved_on": today().isoformat(), "source": "a record"}
RANK = {"reader": 0, "analyst": 1, "admin": 2}


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_key(client: TestClient, name: str, role: str) -> str:
    made = client.post("/v1/keys", json={"name": name, "role": role}, headers=AUTH)
    assert made.status_code == 201, made.text
    assert made.json()["role"] == role
    return str(made.json()["secret"])


@pytest.fixture
def analyst(case: TestClient) -> str:
    return make_key(case, "alice", "analyst")


def test_each_role_may_do_exactly_what_it_should(case: TestClient) -> None:
    reader, analyst = make_key(case, "rita", "reader"), make_key(case, "alice", "analyst")
    other = BELARUS | {"id": "second-case"}
    writes = [
        ("analyst", "POST", REPORTS, REPORT),
        ("analyst", "POST", "/v1/cases", other),
        ("analyst", "PUT", f"/v1/cases/{CASE}/prior", {"outcome_prior": None}),
        ("analyst", "PUT", f"/v1/cases/{CASE}/clock", {"clock": None}),
        ("analyst", "POST", f"/v1/cases/{CASE}/alerts", ALERT),
        ("analyst", "DELETE", f"/v1/cases/{CASE}/alerts/1", None),
        ("admin", "POST", f"/v1/cases/{CASE}/resolution", RESOLUTION),
        ("admin", "DELETE", f"/v1/cases/{CASE}/resolution?note=withdrawn", None),
        ("admin", "POST", "/v1/keys", {"name": "bob", "role": "reader"}),
        ("admin", "GET", "/v1/keys", None),
        ("admin", "GET", "/v1/audit", None),
    ]
    for needs, method, path, body in writes:
        for role, secret in (("reader", reader), ("analyst", analyst)):
            if RANK[role] < RANK[needs]:
                refused = case.request(method, path, json=body, headers=bearer(secret))
                assert refused.status_code == 403, (role, path, refused.text)
                assert f"needs the role {needs}" in refused.json()["detail"][0]["msg"]
        allowed = bearer(analyst) if needs == "analyst" else AUTH
        done = case.request(method, path, json=body, headers=allowed)
        assert done.status_code in {200, 201}, (path, done.text)
    assert case.get(FORECAST, headers=bearer(reader)).status_code == 200
    assert len(case.get(REPORTS).json()) == 1  # nothing the refused requests sent was stored


def test_writes_record_who_made_them_in_reports_and_the_audit_log(
    case: TestClient, analyst: str
) -> None:
    [stored] = case.post(REPORTS, json=REPORT, headers=bearer(analyst)).json()["reports"]
    again = case.post(REPORTS, json=REPORT | {"idempotency_key": "k"}, headers=bearer(analyst))
    retried = case.post(REPORTS, json=REPORT | {"idempotency_key": "k"}, headers=bearer(analyst))
    assert retried.json()["reports"] == again.json()["reports"]  # a retry writes nothing
    retract = case.delete(f"{REPORTS}/{stored['id']}", headers=AUTH)
    assert retract.status_code == 200
    entries = case.get("/v1/audit", headers=AUTH).json()
    seen = [(e["actor"], e["action"], e["case_id"]) for e in reversed(entries)]
    assert seen == [
        ("admin", "case.create", CASE),
        ("admin", "key.create", None),
        ("alice", "reports.add", CASE),
        ("alice", "reports.add", CASE),
        ("admin", "report.retract", CASE),
    ]
    assert entries[-3]["detail"] == {"reports": [stored["id"]]}
    [report, _] = case.get(REPORTS).json()
    assert (report["entered_by"], report["retracted_by"]) == ("alice", "admin")
    assert case.get(f"/v1/cases/{CASE}").json()["created_by"] == "admin"
    first = case.get("/v1/audit", params={"limit": 2}, headers=AUTH)
    assert first.json() == entries[:2]
    rest = case.get(first.links["next"]["url"], headers=AUTH)
    assert rest.json() == entries[2:4] and "next" in rest.links
    oldest_first = case.get("/v1/audit", params={"order": "asc"}, headers=AUTH).json()
    assert oldest_first == entries[::-1]
    # The pager before links: still the page older than an id, newest first.
    page = case.get("/v1/audit", params={"limit": 2, "before": entries[1]["id"]}, headers=AUTH)
    assert page.json() == entries[2:4]
    both = {"before": 5, "cursor": first.links["next"]["url"].split("cursor=")[1]}
    refused = case.get("/v1/audit", params=both, headers=AUTH)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "before"]


def test_a_revoked_key_fails_at_once_on_every_worker(
    make_app: Callable[..., FastAPI], database_url: str
) -> None:
    with TestClient(make_app()) as one, TestClient(make_app()) as other:
        assert one.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
        secret = make_key(one, "alice", "analyst")
        assert other.post(REPORTS, json=REPORT, headers=bearer(secret)).status_code == 201
        revoked = one.delete("/v1/keys/alice", headers=AUTH)
        assert revoked.status_code == 200 and revoked.json()["revoked_at"]
        refused = other.post(REPORTS, json=REPORT, headers=bearer(secret))
        assert refused.status_code == 401
        assert "revoked" in refused.json()["detail"][0]["msg"]
        last = one.delete("/v1/keys/admin", headers=AUTH)
        assert last.status_code == 409 and "last admin key" in last.text


def test_no_secret_is_stored_or_logged_in_clear(
    case: TestClient, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        secret = make_key(case, "alice", "analyst")
        case.post(REPORTS, json=REPORT, headers=bearer(secret))
        case.post(REPORTS, json=REPORT, headers=bearer(secret + "x"))
    assert secret not in caplog.text
    listed = case.get("/v1/keys", headers=AUTH).json()
    assert {k["name"] for k in listed} == {"admin", "alice"} and "secret" not in listed[0]
    database = open_database(database_url)
    with database.connect() as connection:
        for table in inspect(connection).get_table_names():
            rows = connection.execute(select(text("*")).select_from(text(table))).all()
            assert secret not in repr(rows) and TOKEN not in repr(rows)
    database.dispose()


@pytest.mark.parametrize(
    ("headers", "status", "reason"),
    [
        ({}, 401, "a valid bearer token is required"),
        (bearer("esc_not-a-key"), 401, "a valid bearer token is required"),
    ],
)
def test_a_missing_or_unknown_key_is_refused_and_nothing_is_stored(
    case: TestClient, headers: dict[str, str], status: int, reason: str
) -> None:
    refused = case.post(REPORTS, json=REPORT, headers=headers)
    assert refused.status_code == status and reason in refused.json()["detail"][0]["msg"]
    assert case.get(REPORTS).json() == []


def test_the_audit_log_cannot_be_rewritten(case: TestClient, database_url: str) -> None:
    """The database refuses to change or delete an entry, whoever asks."""
    assert case.get("/v1/audit", headers=AUTH).json()  # the case's creation
    database = open_database(database_url)
    for statement in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), database.begin() as connection:
            connection.execute(text(statement))
    database.dispose()
    assert [e["actor"] for e in case.get("/v1/audit", headers=AUTH).json()] == ["admin"]
