"""Every stored string fits its column: each `String(n)` column a client writes has the API's
limit n, and each column the service writes names what bounds it. A new column must be put in
one list or the other."""

from __future__ import annotations

import re
import typing
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import String

from app.schemas import AlertIn, CaseIn, KeyIn, ReportIn, ResolutionIn
from app.store.tables import Base
from models import contract
from models.catalog import KINDS, OUTCOMES, load_catalog

WRITTEN_BY_CLIENTS: dict[str, tuple[type[BaseModel], str]] = {
    "cases.id": (CaseIn, "id"),
    "cases.title": (CaseIn, "title"),
    "cases.state": (CaseIn, "state"),
    "cases.target": (CaseIn, "target"),
    "cases.patron": (CaseIn, "patron"),
    "reports.indicator": (ReportIn, "indicator"),
    "reports.source": (ReportIn, "source"),
    "reports.idempotency_key": (ReportIn, "idempotency_key"),
    "api_keys.name": (KeyIn, "name"),
    "alert_rules.url": (AlertIn, "url"),
    "alert_rules.secret": (AlertIn, "secret"),
    "resolutions.source": (ResolutionIn, "source"),
}
"""Columns holding what a client sent, and the field it was sent in."""

KEY_NAME_COLUMNS = {
    "cases.created_by",
    "reports.entered_by",
    "reports.retracted_by",
    "api_keys.created_by",
    "audit_log.actor",
    "alert_rules.created_by",
    "alert_rules.deleted_by",
    "resolutions.recorded_by",
}
"""Who did it: a key's name, as `api_keys.name` holds it."""

CASE_ID_COLUMNS = {
    "reports.case_id",
    "forecasts.case_id",
    "live_forecasts.case_id",
    "next_forecasts.case_id",
    "audit_log.case_id",
    "alert_rules.case_id",
    "resolutions.case_id",
}
"""Which case: its id, as `cases.id` holds it."""

OF_A_SET = {
    "cases.kind": KINDS,
    "cases.resolved_as": OUTCOMES,
    "reports.grade": ("A", "B", "C", "D", "E", "F"),
    "api_keys.role": ("reader", "analyst", "admin"),
    "alert_rules.outcome": OUTCOMES,
    "alert_rules.direction": ("up", "down"),
    "alert_deliveries.state": ("pending", "delivered", "abandoned", "cancelled"),
    "resolutions.action": ("resolve", "correct", "withdraw"),
    "resolutions.outcome": OUTCOMES,
}
"""Columns holding one of a few words: the longest must fit."""

WRITTEN_BY_THE_SERVICE = {
    "forecasts.artifact_id": "m- and 12 hex digits (models.artifact)",
    "forecasts.reports_hash": "a sha256 in hex",
    "live_forecasts.catalog_sha256": "a sha256 in hex",
    "live_forecasts.reports_hash": "a sha256 in hex",
    "live_forecasts.artifact_id": "m- and 12 hex digits",
    "live_forecasts.etag": "a quoted sha256 prefix (app.live)",
    "next_forecasts.catalog_sha256": "a sha256 in hex",
    "next_forecasts.reports_hash": "a sha256 in hex",
    "next_forecasts.artifact_id": "m- and 12 hex digits",
    "next_forecasts.etag": "a quoted sha256 prefix (app.live)",
    "next_forecasts.basis": "the live row's etag it was prepared from",
    "api_keys.secret_sha256": "a sha256 in hex",
    "audit_log.action": "the service's own action names",
    "alert_deliveries.idempotency_key": "a UUID",
    "alert_deliveries.last_error": "cut to the column's length by app.alerts",
}
"""Columns only the service writes, and what bounds them."""


def string_columns() -> dict[str, int]:
    return {
        f"{table.name}.{column.name}": column.type.length
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, String) and column.type.length is not None
    }


def api_limit(model: type[BaseModel], field: str) -> int:
    """The longest value the API accepts in `field`: its maxLength, or its pattern's."""
    schema: dict[str, Any] = model.model_json_schema()["properties"][field]
    options = schema.get("anyOf", [schema])
    limits = {option["maxLength"] for option in options if "maxLength" in option}
    for option in options:
        if "pattern" in option and "maxLength" not in option:  # ^[a][b]{0,n}$: n + 1 at most
            found = re.fullmatch(r"\^\[[^\]]+\]\[[^\]]+\]\{0,(\d+)\}\$", option["pattern"])
            assert found, option["pattern"]
            limits.add(int(found.group(1)) + 1)
    assert len(limits) == 1, (model.__name__, field, schema)
    return limits.pop()


def test_every_string_column_is_accounted_for() -> None:
    named = WRITTEN_BY_CLIENTS.keys() | KEY_NAME_COLUMNS | CASE_ID_COLUMNS | OF_A_SET.keys()
    assert set(string_columns()) == named | WRITTEN_BY_THE_SERVICE.keys()


@pytest.mark.parametrize("column", sorted(WRITTEN_BY_CLIENTS))
def test_a_column_a_client_writes_has_the_apis_limit(column: str) -> None:
    model, field = WRITTEN_BY_CLIENTS[column]
    assert api_limit(model, field) == string_columns()[column]


def test_who_did_it_and_which_case_fit_as_a_key_name_and_a_case_id_do() -> None:
    lengths = string_columns()
    assert {lengths[column] for column in KEY_NAME_COLUMNS} == {lengths["api_keys.name"]}
    assert {lengths[column] for column in CASE_ID_COLUMNS} == {lengths["cases.id"]}


@pytest.mark.parametrize("column", sorted(OF_A_SET))
def test_the_longest_word_fits(column: str) -> None:
    assert max(map(len, OF_A_SET[column])) <= string_columns()[column]


def test_the_sets_are_the_apis() -> None:
    """The words listed above are those the schemas accept (so the lists cannot drift)."""
    grade = typing.get_args(ReportIn.model_fields["grade"].annotation)
    assert grade == OF_A_SET["reports.grade"]
    role = typing.get_args(KeyIn.model_fields["role"].annotation)
    assert role == OF_A_SET["api_keys.role"]
    assert tuple(contract.OUTCOME_LABELS) == OUTCOMES


def test_the_catalog_is_elicited_for_a_new_cases_horizon() -> None:
    assert load_catalog().horizon_days == contract.HORIZON_DAYS
    assert CaseIn.model_fields["horizon_days"].default == contract.HORIZON_DAYS


def test_the_contract_is_served_as_written(client: TestClient) -> None:
    """What the dashboard reads instead of declaring its own labels and thresholds."""
    served = client.get("/v1/contract").json()
    assert [(o["id"], o["label"]) for o in served["outcomes"]] == list(
        contract.OUTCOME_LABELS.items()
    )
    assert served["thresholds"] == {
        "reliable_pareto_k": contract.RELIABLE_K,
        "surprise_z": contract.SURPRISE_Z,
    }
    assert served["max_lengths"]["source"] == string_columns()["reports.source"]
    assert served["max_reports"] == contract.MAX_REPORTS
    assert served["page_items"] == {"default": contract.PAGE_DEFAULT, "max": contract.PAGE_MAX}
