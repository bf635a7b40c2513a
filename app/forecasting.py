"""From stored reports to a served forecast: which reports were known when, the evidence hash,
and the checks a posted report must pass."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Row

from app.schemas import ReportIn
from app.store.cases import CaseHead
from models import analysis
from models.engine import Engine
from models.errors import EvidenceError
from models.evidence import ReportLike, as_report, check_report, evidence_from_reports
from models.forecast import ForecastOut, Prior
from models.provenance import EMPTY_HASH, Provenance, combined_hash, evidence_hash
from models.scenario import LoadedScenario
from models.timeline import counts_on, known_later, outside_period


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def check_posted(engine: Engine, reports: Sequence[ReportIn], on: dt.date) -> None:
    """Every report must be usable on `on` (today, or a historical case's clock): a known
    indicator, observed by then. (When it was known is checked with the report itself,
    `models.scenario.PostedReport`.)"""
    for number, report in enumerate(reports):
        check_report(engine.catalog, as_report(report), on, f"body[{number}]")


def check_period(opened_on: dt.date, reports: Sequence[ReportLike]) -> None:
    """Every report must be observed within the case's period (EvidenceError otherwise)."""
    for number, report in enumerate(reports):
        if (reason := outside_period(report.observed_on, opened_on)) is not None:
            hint = ": set the case's opened_on to go further back"
            raise EvidenceError(f"body[{number}].observed_on", reason + hint)


def etag(artifact_id: str, payload: str) -> str:
    """A strong ETag: the model's id and a hash of the body itself, so that two bodies differing
    in any byte never share one (the same evidence forecast along two paths, the live sums and a
    replay from the reports, may round differently)."""
    return f'"{artifact_id}-{hashlib.sha256(payload.encode()).hexdigest()[:24]}"'


@dataclass(frozen=True)
class Known:
    """The reports a forecast uses on a date, under a prior, hashed once however often the
    hashes are read; and how many stored reports it leaves out, not yet known on that date."""

    reports: Sequence[ReportLike]
    as_of: dt.date
    prior: Prior
    left_out: int = 0

    @cached_property
    def reports_hash(self) -> str:
        return combined_hash(EMPTY_HASH, self.reports, ())

    @cached_property
    def evidence_hash(self) -> str:
        return evidence_hash(self.as_of, self.reports_hash, self.prior)

    def provenance(self) -> Provenance:
        return Provenance(self.as_of, self.evidence_hash, len(self.reports), self.left_out)


def known_on(rows: Sequence[Row[Any]], as_of: dt.date, prior: Prior) -> Known:
    """Reports as they stood at the end of `as_of`: known by then and not yet retracted, so a
    replay of an earlier date ignores what became known later (and counts it as left out)."""
    used = [row for row in rows if counts_on(row, as_of)]
    later = sum(known_later(row, as_of) for row in rows)
    return Known(used, as_of, prior, later)


def forecast_from(engine: Engine, case_id: str, known: Known) -> ForecastOut:
    """The forecast from exactly these reports on their date, under their prior (stored or
    hypothetical reports)."""
    reports = [as_report(report) for report in known.reports]
    evidence = evidence_from_reports(engine.catalog, reports, known.as_of)
    return engine.record(engine.forecast(evidence, known.prior), case_id, known.provenance())


def with_reports(
    engine: Engine, case: CaseHead, reports: Sequence[ReportIn], rows: Sequence[Row[Any]]
) -> ForecastOut:
    """The case's forecast at its now from its stored reports (`rows`) and hypothetical ones."""
    on = case.now(today())
    check_posted(engine, reports, on)  # usable on the case's now, its clock if historical
    check_period(case.opened_on, reports)
    known = known_on(rows, on, case.prior)
    hypothetical = Known([*known.reports, *reports], on, case.prior, known.left_out)
    return forecast_from(engine, case.id, hypothetical)


def from_scenario(engine: Engine, case: CaseHead, loaded: LoadedScenario) -> ForecastOut:
    """A scenario's forecast, for the case it is about, as `forecast run` gives it."""
    scenario = loaded.scenario
    if scenario.base_case != case.id:
        reason = f"the scenario is about case {scenario.base_case!r}, not {case.id!r}"
        raise EvidenceError("body.scenario: base_case", reason)
    if scenario.kind != case.kind:
        reason = f"the scenario is for a {scenario.kind} case; {case.id} is {case.kind}"
        raise EvidenceError("body.scenario: kind", reason)
    # A scenario is self-contained: its kind's population prior or its own override, not
    # the case's. It is run as `forecast run` runs it: the same file gives the same record.
    run = analysis.run(engine, loaded)
    return engine.record(run.forecast, case.id, run.provenance)
