"""Forecast history: a point whenever a case's evidence or model changed."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from sqlalchemy import Connection, Row, bindparam, insert, select
from sqlalchemy.orm import Session

from app.schemas import HistoryPoint
from app.store.cases import get_case
from app.store.pages import Page, keyset, split
from app.store.tables import ForecastRow
from models.forecast import ForecastOut


def record(connection: Connection, forecast: ForecastOut, inputs: str) -> None:
    """Add a point unless the case's latest one used the same reports and prior (`inputs`,
    hashed) and the same model (returning to an earlier set of reports is a change, and
    recorded). In the caller's transaction (Core: a write's hot path); the caller commits."""
    reports_hash = hashlib.sha256(inputs.encode()).hexdigest()
    latest = connection.execute(LATEST, {"case_id": forecast.case_id}).first()
    if latest is not None and tuple(latest) == (reports_hash, forecast.artifact_id):
        return
    recorded_at = dt.datetime.now(dt.UTC)
    point = HistoryPoint(
        recorded_at=recorded_at,
        as_of=forecast.as_of,
        artifact_id=forecast.artifact_id,
        evidence_hash=forecast.evidence_hash,
        reports_used=forecast.reports_used,
        probabilities=forecast.probabilities,
    )
    row = {
        "case_id": forecast.case_id,
        "recorded_at": recorded_at,
        "as_of": forecast.as_of,
        "artifact_id": forecast.artifact_id,
        "reports_hash": reports_hash,
        "point": point.model_dump_json(),
    }
    connection.execute(_INSERT_POINT, row)


LATEST = (  # the case's latest point: what every write of the case reads (indexed)
    select(ForecastRow.reports_hash, ForecastRow.artifact_id)
    .where(ForecastRow.case_id == bindparam("case_id"))
    .order_by(ForecastRow.id.desc())
    .limit(1)
)
_INSERT_POINT = insert(ForecastRow)


def points(
    session: Session, case_id: str, page: Page
) -> tuple[Sequence[Row[int, str]], tuple[int] | None]:
    """A page of a case's history in the order recorded (ids and points' JSON as served), and
    where the next page starts (None: no more). NotFoundError for an unknown case."""
    get_case(session, case_id)
    query = select(ForecastRow.id, ForecastRow.point).where(ForecastRow.case_id == case_id)
    rows = session.execute(keyset(query, _ORDER, page)).all()
    return split(rows, page, _ORDER)


_ORDER = (ForecastRow.id,)


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
