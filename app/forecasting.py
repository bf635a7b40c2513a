"""From stored reports to a served forecast: which reports were known when, the evidence hash,
and the checks a posted report must pass."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.orm import Session

from app.schemas import ForecastOut, ReportIn
from app.store import history
from app.store.tables import ReportRow
from models.engine import Engine, forecast_record
from models.errors import EvidenceError
from models.evidence import ReportLike, as_report, check_report, evidence_from_reports

MAX_REPORT_AGE_DAYS = 20 * 365
"""Older observations are refused as absurd: no indicator persists that long."""


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def check_posted(engine: Engine, reports: Sequence[ReportIn], on: dt.date) -> None:
    """Every report must be usable on `on`: known indicator, no future or absurdly old date."""
    for number, report in enumerate(reports):
        where = f"body[{number}]"
        check_report(engine.catalog, as_report(report), on, where)
        if (on - report.observed_on).days > MAX_REPORT_AGE_DAYS:
            reason = f"{report.observed_on} is more than {MAX_REPORT_AGE_DAYS // 365} years old"
            raise EvidenceError(f"{where}.observed_on", reason)


@dataclass(frozen=True)
class Known:
    """The reports a forecast uses on a date, hashed once however often the hashes are read."""

    reports: Sequence[ReportLike]
    as_of: dt.date

    @cached_property
    def reports_hash(self) -> str:
        """sha256 of the reports (their content, in a canonical order): the history's key."""
        used = sorted(
            [r.indicator, r.value, r.observed_on.isoformat(), r.grade, r.source]
            for r in self.reports
        )
        return hashlib.sha256(json.dumps(used, separators=(",", ":")).encode()).hexdigest()

    @cached_property
    def evidence_hash(self) -> str:
        """sha256 of what a forecast depends on besides the model: the reports and the date
        (the date matters: reports age)."""
        return hashlib.sha256(f"{self.as_of.isoformat()}:{self.reports_hash}".encode()).hexdigest()


def known_on(rows: Sequence[ReportRow], as_of: dt.date) -> Known:
    """Reports as they stood at the end of `as_of`: received and observed by then, and not yet
    retracted. Replaying an earlier date therefore ignores what arrived later."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    used = [
        row
        for row in rows
        if row.received_at < end
        and row.observed_on <= as_of
        and (row.retracted_at is None or row.retracted_at >= end)
    ]
    return Known(used, as_of)


def etag(engine: Engine, known: Known) -> str:
    """A strong ETag: changes exactly when the evidence, the date or the model changes."""
    return f'"{engine.artifact.id}-{known.evidence_hash[:24]}"'


def forecast_from(engine: Engine, case_id: str, known: Known) -> ForecastOut:
    """The forecast from exactly these reports on their date (stored, hypothetical or a
    scenario's)."""
    reports = [as_report(report) for report in known.reports]
    forecast = engine.predictor.predict(evidence_from_reports(engine.catalog, reports, known.as_of))
    return ForecastOut.model_validate(
        {
            **forecast_record(forecast),
            "case_id": case_id,
            "as_of": known.as_of,
            "artifact_id": engine.artifact.id,
            "evidence_hash": known.evidence_hash,
            "reports_used": len(known.reports),
        }
    )


def forecast_now(engine: Engine, session: Session, case_id: str, known: Known) -> ForecastOut:
    """Today's forecast from `known` (today's reports), recorded in the case's history if the
    evidence or the model changed."""
    forecast = forecast_from(engine, case_id, known)
    history.record(session, forecast, known.reports_hash)
    return forecast
