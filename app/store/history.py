"""Forecast history: a point whenever a case's evidence or model changed."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import Connection, bindparam, insert, select
from sqlalchemy.orm import Session

from app.store.cases import get_case
from app.store.tables import ForecastRow
from models.forecast import ForecastOut


def record(connection: Connection, forecast: ForecastOut, inputs: str) -> None:
    """Add a point unless the case's latest one used the same reports and prior (`inputs`,
    hashed) and the same model (returning to an earlier set of reports is a change, and
    recorded). In the caller's transaction (Core: a write's hot path); the caller commits."""
    reports_hash = hashlib.sha256(inputs.encode()).hexdigest()
    latest = connection.execute(_LATEST, {"case_id": forecast.case_id}).first()
    if latest is not None and tuple(latest) == (reports_hash, forecast.artifact_id):
        return
    point = {
        "case_id": forecast.case_id,
        "recorded_at": dt.datetime.now(dt.UTC),
        "as_of": forecast.as_of,
        "artifact_id": forecast.artifact_id,
        "reports_hash": reports_hash,
        "payload": forecast.model_dump(mode="json"),
    }
    connection.execute(_INSERT_POINT, point)


_LATEST = (
    select(ForecastRow.reports_hash, ForecastRow.artifact_id)
    .where(ForecastRow.case_id == bindparam("case_id"))
    .order_by(ForecastRow.id.desc())
    .limit(1)
)
_INSERT_POINT = insert(ForecastRow)


def points(session: Session, case_id: str) -> list[ForecastRow]:
    """A case's history, oldest first."""
    get_case(session, case_id)
    query = select(ForecastRow).where(ForecastRow.case_id == case_id).order_by(ForecastRow.id)
    return list(session.scalars(query))


def artifact_at(session: Session, case_id: str, moment: dt.datetime) -> str | None:
    """The model whose forecast of the case was in force at `moment` (the last one served
    before it, in the audit record), or None if none had been served."""
    query = (
        select(ForecastRow.artifact_id)
        .where(ForecastRow.case_id == case_id, ForecastRow.recorded_at < moment)
        .order_by(ForecastRow.id.desc())
        .limit(1)
    )
    return session.scalar(query)


def models_served(session: Session, case_id: str) -> list[tuple[dt.datetime, str]]:
    """When each point of the case's audit record was served, and by which model, oldest
    first: the model in force at a moment is the last one served before it."""
    query = (
        select(ForecastRow.recorded_at, ForecastRow.artifact_id)
        .where(ForecastRow.case_id == case_id)
        .order_by(ForecastRow.id)
    )
    return [(at, artifact_id) for at, artifact_id in session.execute(query)]
