"""Scenario files: a named, hypothetical set of reports over a base case (see scenarios/README)."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints

from models.catalog import Catalog, Strict, Text
from models.errors import ScenarioError
from models.evidence import Report, as_report
from models.yamlio import YamlDocument, did_you_mean, fail, parse_yaml, validate


def _parse_value(value: object) -> object:
    """`present` / `absent` / true / false as 1 / 0; numbers pass through to be range-checked."""
    words = {"present": 1.0, "absent": 0.0}
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value.strip().lower() in words:
        return words[value.strip().lower()]
    return value


ReportValue = Annotated[
    float, BeforeValidator(_parse_value), Field(ge=0.0, le=1.0, allow_inf_nan=False)
]
Grade = Literal["A", "B", "C", "D", "E", "F"]


class ReportEntry(Strict):
    """One report: `value` is present / absent, or the source's probability that it is present."""

    indicator: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    value: ReportValue
    observed_on: dt.date
    source: Text
    grade: Grade
    note: str = ""

    def to_report(self) -> Report:
        return as_report(self)


class Scenario(Strict):
    version: Literal[1]
    title: Text
    base_case: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    as_of: dt.date
    horizon_days: Annotated[int, Field(gt=0)]
    reports: list[ReportEntry] = []

    def to_reports(self) -> list[Report]:
        return [entry.to_report() for entry in self.reports]


class LoadedScenario:
    """A validated scenario with its name (the file's stem) and content hash."""

    def __init__(self, name: str, scenario: Scenario, text: str) -> None:
        self.name = name
        self.scenario = scenario
        self.sha256 = hashlib.sha256(text.encode()).hexdigest()


_KEYS = set(Scenario.model_fields) | set(ReportEntry.model_fields)


def parse_scenario(text: str, source: str, catalog: Catalog) -> Scenario:
    """Validate scenario text against the catalog; errors name the source, line and key."""
    doc = parse_yaml(text, source, ScenarioError)
    scenario = validate(Scenario, doc, ScenarioError, _KEYS)
    _check(scenario, catalog, doc)
    return scenario


def load_scenario(path: Path, catalog: Catalog) -> LoadedScenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), f"cannot read file ({exc.strerror})") from None
    return LoadedScenario(path.stem, parse_scenario(text, str(path), catalog), text)


def _check(scenario: Scenario, catalog: Catalog, doc: YamlDocument) -> None:
    if scenario.horizon_days != catalog.horizon_days:
        reason = (
            f"the model is calibrated for a {catalog.horizon_days}-day horizon, "
            f"not {scenario.horizon_days}"
        )
        raise fail(doc, ("horizon_days",), reason, ScenarioError)
    for i, entry in enumerate(scenario.reports):
        if entry.indicator not in catalog.position:
            reason = (
                f"unknown indicator {entry.indicator!r}{did_you_mean(entry.indicator, catalog.ids)}"
            )
            raise fail(doc, ("reports", i, "indicator"), reason, ScenarioError)
        if entry.observed_on > scenario.as_of:
            reason = f"{entry.observed_on} is after the scenario's as_of ({scenario.as_of})"
            raise fail(doc, ("reports", i, "observed_on"), reason, ScenarioError)
