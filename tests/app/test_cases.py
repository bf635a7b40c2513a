"""Cases through the API, on SQLite and PostgreSQL: create, read, conflicts, bad input, auth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ..service import AUTH, BELARUS


def test_create_then_read(client: TestClient) -> None:
    created = client.post("/v1/cases", json=BELARUS, headers=AUTH)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["horizon_days"] == 90 and body["created_at"]
    assert client.get(f"/v1/cases/{BELARUS['id']}").json() == body
    assert client.get("/v1/cases").json() == [body]


def test_case_survives_a_restart(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app()) as first:
        assert first.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 201
    with TestClient(make_app()) as second:
        assert second.get(f"/v1/cases/{BELARUS['id']}").json()["state"] == "Belarus"


def test_duplicate_is_a_conflict_and_changes_nothing(client: TestClient) -> None:
    client.post("/v1/cases", json=BELARUS, headers=AUTH)
    again = client.post("/v1/cases", json=BELARUS | {"title": "Other"}, headers=AUTH)
    assert again.status_code == 409
    assert again.json()["detail"][0]["loc"] == ["body", "id"]
    assert client.get(f"/v1/cases/{BELARUS['id']}").json()["title"] == BELARUS["title"]


def test_unknown_case_is_404_with_a_suggestion(client: TestClient) -> None:
    client.post("/v1/cases", json=BELARUS, headers=AUTH)
    missing = client.get("/v1/cases/belarus-ukraine-2021")
    assert missing.status_code == 404
    assert "did you mean 'belarus-ukraine-2022'" in missing.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "Belarus 2022"}, "id"),
        ({"title": ""}, "title"),
        ({"horizon_days": 0}, "horizon_days"),
        ({"horizon_days": float("nan")}, "horizon_days"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_case_names_the_field_and_stores_nothing(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    response = client.post("/v1/cases", content=_json(BELARUS | change), headers=AUTH | _JSON)
    assert response.status_code == 422, response.text
    assert field in {str(part) for error in response.json()["detail"] for part in error["loc"]}
    assert client.get("/v1/cases").json() == []


def test_missing_field_is_named(client: TestClient) -> None:
    response = client.post(
        "/v1/cases", json={k: v for k, v in BELARUS.items() if k != "state"}, headers=AUTH
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "state"]


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}]
)
def test_writes_need_the_token(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/cases", json=BELARUS, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/v1/cases").json() == []


def test_writes_refused_when_no_token_is_configured(make_app: Callable[..., FastAPI]) -> None:
    with TestClient(make_app(write_token=None)) as client:
        assert client.post("/v1/cases", json=BELARUS, headers=AUTH).status_code == 503
        assert client.get("/v1/cases").json() == []


_JSON = {"Content-Type": "application/json"}


def _json(body: dict[str, Any]) -> str:
    """JSON text as a client might send it: NaN written out, which strict JSON forbids."""
    import json

    return json.dumps(body, allow_nan=True)


def test_the_kind_follows_from_the_patron_or_must_agree_with_it(client: TestClient) -> None:
    joined = client.post("/v1/cases", json=BELARUS, headers=AUTH).json()
    assert joined["kind"] == "join_war" and joined["outcome_prior"] is None
    alone = BELARUS | {"id": "russia-ukraine-2021", "state": "Russia", "patron": None}
    assert client.post("/v1/cases", json=alone, headers=AUTH).json()["kind"] == "start_war"
    wrong = BELARUS | {"id": "wrong-kind", "kind": "start_war"}
    refused = client.post("/v1/cases", json=wrong, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "kind"]
    assert "a start_war case has no patron" in refused.json()["detail"][0]["msg"]
    assert client.get("/v1/cases/wrong-kind").status_code == 404


def test_an_outcome_prior_must_sum_to_one(client: TestClient) -> None:
    prior = {"no_entry": 0.5, "false_flag": 0.1, "direct_invasion": 0.1}
    refused = client.post("/v1/cases", json=BELARUS | {"outcome_prior": prior}, headers=AUTH)
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "outcome_prior"]
    assert "sum to 1" in refused.json()["detail"][0]["msg"]
    assert client.get("/v1/cases").json() == []
    fixed = {"no_entry": 0.9, "false_flag": 0.02, "direct_invasion": 0.08}
    created = client.post("/v1/cases", json=BELARUS | {"outcome_prior": fixed}, headers=AUTH)
    assert created.status_code == 201 and created.json()["outcome_prior"] == fixed
