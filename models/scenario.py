"""Scenario files: a named, hypothetical set of reports over a base case (see scenarios/README)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from models.catalog import (
    OUTCOMES,
    Catalog,
    Kind,
    OutcomeProbabilities,
    Strict,
    prior_sum_error,
)
from models.contract import MAX_IDEMPOTENCY_KEY, MAX_INDICATOR_ID, MAX_NOTE, MAX_REPORTS, MAX_SOURCE
from models.errors import ScenarioError
from models.evidence import Report, as_report
from models.fields import IsoDate, Moment, Text, storable
from models.yamlio import YamlDocument, YamlLimits, did_you_mean, fail, parse_yaml, validate

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
"""The scenario library: where `extends` is resolved for scenario text without a file."""
SCENARIO_NAME = r"^[a-z0-9][a-z0-9._-]*$"
SCENARIO_LIMITS = YamlLimits(max_chars=256 * 1024, max_depth=12, max_nodes=20_000)
"""What a scenario may cost to parse: room for MAX_REPORTS reports, every field of each written
out, and no more (the service parses scenarios that anyone who may read can send)."""


def _parse_value(value: object) -> object:
    """`present` / `absent` / true / false as 1 / 0; numbers pass through to be range-checked."""
    words = {"present": 1.0, "absent": 0.0}
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and value in words:
        return words[value]
    return value


ReportValue = Annotated[
    float,
    BeforeValidator(_parse_value),
    Field(ge=0.0, le=1.0, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1},
                {"type": "string", "enum": ["present", "absent"]},
                {"type": "boolean"},
            ],
            "description": "present / absent (or true / false), or the source's probability",
        },
        mode="validation",
    ),
]
Grade = Literal["A", "B", "C", "D", "E", "F"]
Source = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_SOURCE),
    AfterValidator(storable),
]  # the length before `storable`: "String should have at most 500 characters"
Note = Annotated[str, StringConstraints(max_length=MAX_NOTE), AfterValidator(storable)]


class ReportEntry(Strict):
    """One report: `value` is present / absent, or the source's probability that it is present."""

    indicator: Annotated[str, StringConstraints(min_length=1, max_length=MAX_INDICATOR_ID)]
    value: ReportValue
    observed_on: IsoDate
    source: Source
    grade: Grade
    note: Note = ""

    def to_report(self) -> Report:
        return as_report(self)


IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_IDEMPOTENCY_KEY), AfterValidator(storable)
]


class PostedReport(ReportEntry):
    """A report entered into a case, posted or imported from a file: also when the evidence
    became available to the analyst (`known_at`), and a key that makes a retry store nothing
    twice."""

    known_at: Moment | None = Field(
        None,
        description="When the evidence became available to the analyst: a date or a date and "
        "time with its offset, not before observed_on nor in the future. Default: when it is "
        "posted; set it to enter historical reporting.",
    )
    idempotency_key: IdempotencyKey | None = None

    @field_validator("known_at")
    @classmethod
    def _known_once_seen_and_not_later_than_now(
        cls, known_at: dt.datetime | None, info: ValidationInfo
    ) -> dt.datetime | None:
        if known_at is None:
            return None
        now = dt.datetime.now(dt.UTC)
        if known_at > now:
            raise ValueError(f"{known_at.isoformat()} is in the future (it is {now.isoformat()})")
        observed = info.data.get("observed_on")
        if observed is not None and known_at.date() < observed:  # both UTC
            raise ValueError(
                f"{known_at.isoformat()} is before the report was observed ({observed}): "
                "evidence is known once it is seen"
            )
        return known_at


class Overrides(Strict):
    """What-ifs about the model rather than the evidence, for sensitivity analysis: fixed
    likelihoods P(present | outcome) for some indicators, or a fixed outcome prior, in place of
    the fitted posterior's (for every draw)."""

    likelihoods: dict[str, OutcomeProbabilities] = {}
    outcome_prior: OutcomeProbabilities | None = None

    def merged(self, over: Overrides) -> Overrides:
        """These overrides with `over`'s on top (a child scenario's over its parent's)."""
        return Overrides(
            likelihoods=self.likelihoods | over.likelihoods,
            outcome_prior=(
                self.outcome_prior if over.outcome_prior is None else over.outcome_prior
            ),
        )

    def each(self) -> list[tuple[str, Overrides]]:
        """Each override alone, named: what `forecast sensitivity` varies one at a time."""
        alone = [
            (f"likelihood of {indicator}", Overrides(likelihoods={indicator: value}))
            for indicator, value in self.likelihoods.items()
        ]
        if self.outcome_prior is not None:
            alone.append(("outcome prior", Overrides(outcome_prior=self.outcome_prior)))
        return alone


class Scenario(Strict):
    version: Literal[1]
    title: Text
    extends: Annotated[str, StringConstraints(pattern=SCENARIO_NAME)] | None = None
    base_case: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    kind: Kind  # the base case's kind: whose population prior the forecast starts from
    as_of: IsoDate
    horizon_days: Annotated[int, Field(gt=0)]
    reports: Annotated[list[ReportEntry], Field(max_length=MAX_REPORTS)] = []
    overrides: Overrides = Overrides()

    def to_reports(self) -> list[Report]:
        return [entry.to_report() for entry in self.reports]


class LoadedScenario:
    """A validated scenario, resolved (a parent's reports first, then its own; its overrides
    under its own), with its name and a hash of its content and its parents'."""

    def __init__(self, name: str, scenario: Scenario, sha256: str) -> None:
        self.name = name
        self.scenario = scenario
        self.sha256 = sha256


_KEYS = (
    set(Scenario.model_fields)
    | set(ReportEntry.model_fields)
    | set(Overrides.model_fields)
    | set(OUTCOMES)
)
MAX_DEPTH = 8
"""Longest chain of `extends`: deeper is a mistake (or a cycle)."""


def parse_scenario(
    text: str, source: str, catalog: Catalog, library: Path = SCENARIOS, name: str = "scenario"
) -> LoadedScenario:
    """Validate scenario text against the catalog, resolving `extends` in `library`; errors
    name the source, line and key."""
    return _resolve(text, source, catalog, _Library(library, full_paths=False), name, ())


def load_scenario(path: Path, catalog: Catalog) -> LoadedScenario:
    """A scenario file; `extends` names a file in the same directory."""
    library = _Library(path.parent, full_paths=True)
    return _resolve(_read(path, str(path)), str(path), catalog, library, path.stem, (path.stem,))


@dataclass(frozen=True)
class _Library:
    """Where `extends` is resolved, and how its files are named in errors: in full for an
    analyst's own files; by directory and name only for the service's library (an API answer
    does not reveal where the server keeps it)."""

    directory: Path
    full_paths: bool

    def shown(self, path: Path) -> str:
        return str(path) if self.full_paths else f"{path.parent.name}/{path.name}"


def _read(path: Path, shown: str) -> str:
    try:
        with path.open(encoding="utf-8") as file:
            return file.read(SCENARIO_LIMITS.max_chars + 1)  # longer is refused when parsed
    except UnicodeDecodeError as exc:
        raise ScenarioError(shown, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ScenarioError(shown, f"cannot read file ({exc.strerror})") from None


def _resolve(
    text: str, source: str, catalog: Catalog, library: _Library, name: str, chain: tuple[str, ...]
) -> LoadedScenario:
    """`chain`: the library files being resolved, outermost first (to detect loops)."""
    doc = parse_yaml(text, source, ScenarioError, SCENARIO_LIMITS)
    scenario = validate(Scenario, doc, ScenarioError, _KEYS)
    _check(scenario, catalog, doc)
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    if scenario.extends is None:
        return LoadedScenario(name, scenario, sha256)
    parent = _parent(scenario.extends, doc, catalog, library, chain)
    parent_scenario = parent.scenario
    if parent_scenario.base_case != scenario.base_case:
        reason = f"{parent.name} is about {parent_scenario.base_case}, not {scenario.base_case}"
        raise fail(doc, ("extends",), reason, ScenarioError)
    if parent_scenario.kind != scenario.kind:
        reason = f"{parent.name} is a {parent_scenario.kind} case, not {scenario.kind}"
        raise fail(doc, ("kind",), reason, ScenarioError)
    if parent_scenario.as_of > scenario.as_of:
        reason = f"{parent.name} is as of {parent_scenario.as_of}, after {scenario.as_of}"
        raise fail(doc, ("extends",), reason, ScenarioError)
    resolved = scenario.model_copy(  # whole now: its parent's reports are in it
        update={
            "extends": None,
            "reports": [*parent_scenario.reports, *scenario.reports],
            "overrides": parent_scenario.overrides.merged(scenario.overrides),
        }
    )
    combined = hashlib.sha256(f"{sha256}:{parent.sha256}".encode()).hexdigest()
    return LoadedScenario(name, resolved, combined)


def _parent(
    name: str, doc: YamlDocument, catalog: Catalog, library: _Library, chain: tuple[str, ...]
) -> LoadedScenario:
    if name in chain or len(chain) > MAX_DEPTH:
        loop = " -> ".join((*chain, name))
        reason = f"scenarios extend each other in a loop ({loop})"
        raise fail(doc, ("extends",), reason, ScenarioError)
    path = library.directory / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in library.directory.glob("*.yaml") if p.stem not in chain)
        hint = did_you_mean(name, known)
        reason = f"no scenario {name!r} in {library.directory.name}/{hint}"
        raise fail(doc, ("extends",), reason, ScenarioError)
    shown = library.shown(path)
    return _resolve(_read(path, shown), shown, catalog, library, name, (*chain, name))


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
    for indicator in scenario.overrides.likelihoods:
        if indicator not in catalog.position:
            reason = f"unknown indicator {indicator!r}{did_you_mean(indicator, catalog.ids)}"
            raise fail(doc, ("overrides", "likelihoods", indicator), reason, ScenarioError)
    prior = scenario.overrides.outcome_prior
    unequal = None if prior is None else prior_sum_error(prior)
    if unequal is not None:
        raise fail(doc, ("overrides", "outcome_prior"), unequal, ScenarioError)
