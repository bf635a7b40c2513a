"""From stored reports to a served forecast: which reports were known when, the evidence hash,
and the checks a posted report must pass."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import Row

from app.schemas import ForecastOut, ReportIn
from models.engine import Engine, forecast_record
from models.errors import EvidenceError
from models.evidence import ReportLike, as_report, check_report, evidence_from_reports
from models.predict import Forecast, Prior
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


def report_digest(report: ReportLike) -> int:
    """sha256 of one report's content, as an integer."""
    content = [
        report.indicator,
        float(report.value),
        report.observed_on.isoformat(),
        report.grade,
        report.source,
    ]
    return int.from_bytes(hashlib.sha256(json.dumps(content).encode()).digest())


def combined_hash(start: str, added: Iterable[ReportLike], removed: Iterable[ReportLike]) -> str:
    """The reports hash of a set (given by its hash) with reports added and removed.

    A set's hash is the sum of its reports' digests modulo 2**256: it does not depend on the
    order of the reports and can be updated one report at a time. It identifies report sets for
    ETags and history; it is not a security boundary (sums of hashes can be made to collide)."""
    total = int(start, 16) + sum(map(report_digest, added)) - sum(map(report_digest, removed))
    return digests_hash([total])


def digests_hash(digests: Iterable[int]) -> str:
    """The reports hash of a set given by its reports' digests (`report_digest`)."""
    return f"{sum(digests) % 2**256:064x}"


EMPTY_HASH = f"{0:064x}"


def evidence_hash(as_of: dt.date, reports_hash: str, prior: Prior) -> str:
    """sha256 of what a forecast depends on besides the model: the reports, the date (reports
    age) and the outcome prior."""
    return hashlib.sha256(
        f"{as_of.isoformat()}:{reports_hash}:{prior_key(prior)}".encode()
    ).hexdigest()


def prior_key(prior: Prior) -> str:
    """A prior as text, for hashes: its kind, whose it is, and its fixed values if any."""
    fixed = "population" if prior.fixed is None else ",".join(map(repr, prior.fixed))
    return f"{prior.kind}:{prior.source}:{fixed}"


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


def known_on(rows: Sequence[Row[Any]], as_of: dt.date, prior: Prior) -> Known:
    """Reports as they stood at the end of `as_of`: known by then and not yet retracted, so a
    replay of an earlier date ignores what became known later (and counts it as left out)."""
    used = [row for row in rows if counts_on(row, as_of)]
    later = sum(known_later(row, as_of) for row in rows)
    return Known(used, as_of, prior, later)


def forecast_from(engine: Engine, case_id: str, known: Known) -> ForecastOut:
    """The forecast from exactly these reports on their date, under their prior (stored,
    hypothetical or a scenario's reports)."""
    reports = [as_report(report) for report in known.reports]
    evidence = evidence_from_reports(engine.catalog, reports, known.as_of)
    forecast = engine.forecast(evidence, known.prior)
    return served_form(
        engine,
        case_id,
        forecast,
        known.as_of,
        known.evidence_hash,
        len(reports),
        left_out=known.left_out,
    )


def served_form(
    engine: Engine,
    case_id: str,
    forecast: Forecast,
    as_of: dt.date,
    evidence_digest: str,
    reports_used: int,
    scenario_sha256: str | None = None,
    left_out: int = 0,
) -> ForecastOut:
    """A forecast as the API serves it."""
    return ForecastOut.model_validate(
        {
            **forecast_record(forecast),
            "case_id": case_id,
            "as_of": as_of,
            "artifact_id": engine.artifact.id,
            "evidence_hash": evidence_digest,
            "reports_used": reports_used,
            "reports_left_out": left_out,
            "scenario_sha256": scenario_sha256,
        }
    )
