"""From stored reports to a served forecast: which reports were known when, the evidence hash,
and the checks a posted report must pass."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence

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


def known_on(rows: Sequence[ReportRow], as_of: dt.date) -> list[ReportRow]:
    """Reports as they stood at the end of `as_of`: received and observed by then, and not yet
    retracted. Replaying an earlier date therefore ignores what arrived later."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), dt.UTC)
    return [
        row
        for row in rows
        if row.received_at < end
        and row.observed_on <= as_of
        and (row.retracted_at is None or row.retracted_at >= end)
    ]


def reports_hash(rows: Sequence[ReportLike]) -> str:
    """sha256 of the reports a forecast used (their content, in a canonical order)."""
    used = sorted(
        [r.indicator, r.value, r.observed_on.isoformat(), r.grade, r.source] for r in rows
    )
    return hashlib.sha256(json.dumps(used, separators=(",", ":")).encode()).hexdigest()


def evidence_hash(rows: Sequence[ReportLike], as_of: dt.date) -> str:
    """sha256 of what a forecast depends on besides the model: the reports used and the date
    (the date matters: reports age)."""
    return hashlib.sha256(f"{as_of.isoformat()}:{reports_hash(rows)}".encode()).hexdigest()


def etag(engine: Engine, rows: Sequence[ReportRow], as_of: dt.date) -> str:
    """A strong ETag: changes exactly when the evidence, the date or the model changes."""
    return f'"{engine.artifact.id}-{evidence_hash(known_on(rows, as_of), as_of)[:24]}"'


def case_forecast(
    engine: Engine, case_id: str, rows: Sequence[ReportRow], as_of: dt.date
) -> ForecastOut:
    """The forecast of a case from its stored reports as they stood on `as_of`."""
    return forecast_from(engine, case_id, known_on(rows, as_of), as_of)


def forecast_from(
    engine: Engine, case_id: str, used: Sequence[ReportLike], as_of: dt.date
) -> ForecastOut:
    """The forecast from exactly these reports on `as_of` (stored, hypothetical or a scenario's)."""
    reports = [as_report(report) for report in used]
    forecast = engine.predictor.predict(evidence_from_reports(engine.catalog, reports, as_of))
    return ForecastOut.model_validate(
        {
            **forecast_record(forecast),
            "case_id": case_id,
            "as_of": as_of,
            "artifact_id": engine.artifact.id,
            "evidence_hash": evidence_hash(used, as_of),
            "reports_used": len(used),
        }
    )


def forecast_now(
    engine: Engine, session: Session, case_id: str, rows: Sequence[ReportRow]
) -> ForecastOut:
    """Today's forecast of a case, recorded in its history if the evidence or model changed."""
    on = today()
    forecast = case_forecast(engine, case_id, rows, on)
    history.record(session, forecast, reports_hash(known_on(rows, on)))
    return forecast
