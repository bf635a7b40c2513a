"""The service skeleton through TestClient: health, readiness, catalog and model endpoints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from models.catalog import Catalog


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["artifact_id"].startswith("m-")


def test_not_ready_without_an_artifact(
    tmp_path: Path, make_app: Callable[..., FastAPI], caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(make_app(artifact_path=tmp_path / "none.npz")) as client:
        started = [record.getMessage() for record in caplog.records]
        assert any("not ready: no model artifact" in message for message in started)  # at start
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "run `forecast fit`" in ready.json()["reason"]
        model = client.get("/v1/model")
        assert model.status_code == 503 and "no model artifact" in model.json()["detail"][0]["msg"]


def test_indicators_are_the_catalog(client: TestClient, catalog: Catalog) -> None:
    body = client.get("/v1/indicators").json()
    assert [row["id"] for row in body] == list(catalog.ids)
    first = body[0]
    assert set(first["likelihood"]) == {"no_entry", "false_flag", "direct_invasion"}
    assert first["article"] and first["half_life_days"] > 0


def test_model_describes_the_artifact(client: TestClient) -> None:
    body = client.get("/v1/model").json()
    assert body["artifact_id"].startswith("m-") and body["reference_cases"] >= 80
    assert body["diagnostics"]["passed"] is True
    # The skill, with its uncertainty: an interval, a standard error, never a bare number.
    skill = body["skill"]
    assert skill["brier_skill"]["lower"] <= skill["brier_skill"]["value"]
    assert skill["brier_skill"]["value"] <= skill["brier_skill"]["upper"]
    assert skill["log_difference"]["se"] > 0
    assert set(skill["auc"]) == {"no_entry", "false_flag", "direct_invasion"}
    assert "forecasts" not in body["evaluation"]  # the per-case forecasts stay in the artifact
    assert set(body["priors"]) == {"join_war", "start_war"}
    fitted = body["likelihoods"]["covert_mobilization"]["direct_invasion"]
    assert fitted["lower"] <= fitted["mean"] <= fitted["upper"] and "elicited" in fitted


def test_openapi_lists_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/healthz", "/readyz", "/v1/indicators", "/v1/model", "/v1/cases"} <= set(paths)
