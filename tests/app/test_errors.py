"""One error envelope: every location a list, every status from the error's class."""

from __future__ import annotations

import pytest

from app.errors import input_status, location
from models.errors import ConflictError, EvidenceError, InputError, NotFoundError, ScenarioError


@pytest.mark.parametrize(
    ("where", "loc"),
    [
        ("body[0].observed_on", ["body", 0, "observed_on"]),
        ("query.as_of", ["query", "as_of"]),
        ("database", ["database"]),
        (
            "body.scenario:12: reports[3] (pretext_claims).grade",
            ["body", "scenario", "line 12", "reports[3] (pretext_claims).grade"],
        ),
        ("body.scenario: base_case", ["body", "scenario", "base_case"]),
        ("", []),
    ],
)
def test_a_location_is_a_list_as_the_schemas_own_errors_give_it(
    where: str, loc: list[str | int]
) -> None:
    assert location(where) == loc


class NoSuchRule(NotFoundError):
    """A subclass the table of statuses does not name."""


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFoundError("path.case_id", "no case"), (404, "not_found")),
        (NoSuchRule("path.rule_id", "no rule"), (404, "not_found")),
        (ConflictError("body.id", "exists"), (409, "conflict")),
        (EvidenceError("query.as_of", "in the future"), (422, "invalid")),
        (ScenarioError("body.scenario", "broken"), (422, "invalid")),
        (InputError("body", "bad"), (422, "invalid")),
    ],
)
def test_the_status_follows_the_class_hierarchy(error: InputError, status: tuple[int, str]) -> None:
    assert input_status(error) == status
