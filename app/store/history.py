"""Forecast history: a point whenever a case's evidence or model changed."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.schemas import ForecastOut
from app.store.cases import get_case
from app.store.tables import ForecastRow


def record(session: Session, forecast: ForecastOut, reports_hash: str) -> None:
    """Add a point unless the case's latest one used the same reports and the same model
    (returning to an earlier set of reports is a change, and recorded). The caller commits."""
    latest = session.execute(
        select(ForecastRow.reports_hash, ForecastRow.artifact_id)
        .where(ForecastRow.case_id == forecast.case_id)
        .order_by(ForecastRow.id.desc())
        .limit(1)
    ).first()
    if latest is not None and tuple(latest) == (reports_hash, forecast.artifact_id):
        return
    session.add(
        ForecastRow(
            case_id=forecast.case_id,
            recorded_at=dt.datetime.now(dt.UTC),
            as_of=forecast.as_of,
            artifact_id=forecast.artifact_id,
            reports_hash=reports_hash,
            payload=forecast.model_dump(mode="json"),
        )
    )


def points(session: Session, case_id: str) -> list[ForecastRow]:
    """A case's history, oldest first."""
    get_case(session, case_id)
    query = select(ForecastRow).where(ForecastRow.case_id == case_id).order_by(ForecastRow.id)
    return list(session.scalars(query))
