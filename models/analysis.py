"""What the analysts' commands compute beyond one forecast: how two scenarios differ and why,
and how a scenario's forecast moves with what is not known yet or not certain in the model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from models.catalog import OUTCOMES
from models.engine import NO_OVERRIDES, Engine, scenario_prior
from models.forecast import Forecast, Prior
from models.provenance import Provenance
from models.scenario import Grade, LoadedScenario, ReportEntry, Scenario
from models.timeline import Side, by_content, decompose

type Probabilities = dict[str, float]


@dataclass(frozen=True)
class Run:
    """A scenario and its forecast."""

    loaded: LoadedScenario
    forecast: Forecast

    @property
    def name(self) -> str:
        return self.loaded.name

    @property
    def scenario(self) -> Scenario:
        return self.loaded.scenario

    @property
    def provenance(self) -> Provenance:
        """What the forecast was made from: the scenario's reports, date, prior and hash."""
        scenario = self.scenario
        prior = scenario_prior(scenario.kind, scenario.overrides)
        return Provenance.of_reports(scenario.reports, scenario.as_of, prior, self.loaded.sha256)


def run(engine: Engine, loaded: LoadedScenario) -> Run:
    return Run(loaded, engine.run(loaded.scenario))


def probabilities(forecast: Forecast) -> Probabilities:
    return {p.outcome: p.mean for p in forecast.probabilities}


def change(after: Forecast, before: Forecast) -> Probabilities:
    """Each outcome's probability after minus before."""
    return {outcome: after.mean(outcome) - before.mean(outcome) for outcome in OUTCOMES}


@dataclass(frozen=True)
class Difference:
    """One step from scenario A to B, and its change of each outcome's probability."""

    kind: Literal["added", "removed", "date", "overrides"]
    label: str
    effect: Probabilities
    report: ReportEntry | None = None


@dataclass(frozen=True)
class Comparison:
    a: Run
    b: Run
    differences: tuple[Difference, ...]  # in the order of the path from A to B

    @property
    def total(self) -> Probabilities:
        return change(self.b.forecast, self.a.forecast)


def compare(engine: Engine, a: LoadedScenario, b: LoadedScenario) -> Comparison:
    """A and B side by side, and what takes A to B, exactly (`models.timeline.decompose`): B's
    overrides and kind on A's evidence, each report in A only taken out, the change of date
    (the reports in both age), each report in B only put in. Each difference is its step's
    change given the steps before it: the differences sum to the total change."""
    first, second = run(engine, a), run(engine, b)
    sa, sb = a.scenario, b.scenario
    removed, added = by_content(sa.reports, sb.reports, key=lambda report: report)
    start = Side(engine, sa.reports, sa.as_of, Prior(sa.kind), sa.overrides)
    end = Side(engine, sb.reports, sb.as_of, Prior(sb.kind), sb.overrides)
    path = decompose(start, end, removed, added, removed_kind="removed")
    labels = {
        "model": ("overrides", "B's overrides and kind instead of A's", None),
        "ageing": ("date", f"as of {sb.as_of} instead of {sa.as_of} (reports age)", None),
    }
    differences = []
    for part in path.parts:
        if part.index is None:
            kind, label, report = labels[part.kind]
        else:
            report = (sa if part.kind == "removed" else sb).reports[part.index]
            kind, label = part.kind, describe(report)
        effect = dict(zip(OUTCOMES, map(float, part.change), strict=True))
        differences.append(Difference(kind, label, effect, report))  # type: ignore[arg-type]
    return Comparison(first, second, tuple(differences))


def describe(report: ReportEntry) -> str:
    """`covert_mobilization present (B, 2022-07-25, source)`."""
    value = {1.0: "present", 0.0: "absent"}.get(report.value, f"{report.value:.0%} likely")
    return f"{report.indicator} {value} ({report.grade}, {report.observed_on}, {report.source})"


@dataclass(frozen=True)
class IfReported:
    """One more report on an indicator: the forecast if it said present, or absent. For an
    indicator without reports, also what learning its state is worth (value of information)."""

    indicator: str
    bits: float | None  # expected entropy reduction; None: the scenario already reports it
    p_present: float | None  # probability that the indicator is present; None: reported
    if_present: Probabilities
    if_absent: Probabilities

    @property
    def swing(self) -> float:
        """The largest change of an outcome's probability between the two reports."""
        return max(abs(self.if_present[k] - self.if_absent[k]) for k in self.if_present)


@dataclass(frozen=True)
class OverrideShift:
    """The forecast under one of the scenario's overrides alone, against none."""

    label: str
    probabilities: Probabilities
    effect: Probabilities


@dataclass(frozen=True)
class Sensitivity:
    run: Run
    grade: Grade
    if_reported: tuple[IfReported, ...]  # most valuable first
    overrides: tuple[OverrideShift, ...]


def sensitivity(engine: Engine, loaded: LoadedScenario, grade: Grade = "B") -> Sensitivity:
    """How the forecast would move if each indicator were reported (present or absent, by a
    source of `grade`, on the scenario's date): the unobserved ones first, ranked by value of
    information (what to collect next), then the reported ones by how far one more report
    would move it; and how the forecast moves under each of the scenario's overrides alone.

    Value of information is that of learning an indicator's true state, so it is given for the
    unreported ones; for a reported one, the swing of one more report says how much is left."""
    base = run(engine, loaded)
    scenario = loaded.scenario
    value = {row.indicator: row for row in base.forecast.value_of_information}
    rows = []
    for indicator in engine.catalog.ids:
        present, absent = (
            probabilities(engine.run(_with_report(scenario, indicator, state, grade)))
            for state in (1.0, 0.0)
        )
        known = value.get(indicator)
        bits, p = (known.bits, known.p_present) if known else (None, None)
        rows.append(IfReported(indicator, bits, p, present, absent))
    rows.sort(key=lambda row: (row.bits is None, -(row.bits or row.swing)))
    unchanged = engine.run(scenario, NO_OVERRIDES)
    shifts = tuple(
        OverrideShift(label, probabilities(moved), change(moved, unchanged))
        for label, alone in scenario.overrides.each()
        for moved in (engine.run(scenario, alone),)
    )
    return Sensitivity(base, grade, tuple(rows), shifts)


def _with_report(scenario: Scenario, indicator: str, value: float, grade: Grade) -> Scenario:
    report = ReportEntry(
        indicator=indicator,
        value=value,
        observed_on=scenario.as_of,
        source="hypothetical report (sensitivity)",
        grade=grade,
    )
    return scenario.model_copy(update={"reports": [*scenario.reports, report]})
