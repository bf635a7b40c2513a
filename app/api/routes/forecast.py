"""A case's forecast, cheap to poll (strong ETag, 304 on If-None-Match), and its history."""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi import APIRouter, Request, Response

from app.api.deps import EngineDep, SessionDep
from app.forecasting import etag, forecast_from, forecast_now, known_on, today
from app.schemas import ForecastOut, HistoryPoint
from app.store import history
from app.store import reports as store
from models.catalog import OUTCOMES
from models.errors import EvidenceError

router = APIRouter(prefix="/v1/cases/{case_id}/forecast", tags=["forecast"])

CACHE_CONTROL = "no-cache"  # always revalidate: the ETag makes that a cheap 304


@router.get("", response_model=ForecastOut, responses={304: {"description": "Not modified"}})
def get_forecast(
    case_id: str,
    request: Request,
    response: Response,
    session: SessionDep,
    engine: EngineDep,
    as_of: dt.date | None = None,
) -> ForecastOut | Response:
    """The forecast now, or replayed `as_of` a past date with only the reports known then."""
    if as_of is not None and as_of > today():
        raise EvidenceError("query.as_of", f"{as_of} is in the future")
    known = known_on(store.list_reports(session, case_id), as_of or today())
    tag = etag(engine, known)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    if as_of is not None:
        return forecast_from(engine, case_id, known)  # a replay is not history
    return forecast_now(engine, session, case_id, known)


@router.get(
    "/history",
    response_model=list[HistoryPoint],
    responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV on request"}},
)
def get_history(
    case_id: str, request: Request, session: SessionDep
) -> list[HistoryPoint] | Response:
    """Every forecast the case has had, one point per change of evidence or model
    (`Accept: text/csv` for CSV)."""
    points = [
        HistoryPoint.model_validate(row.payload | {"recorded_at": row.recorded_at})
        for row in history.points(session, case_id)
    ]
    if "text/csv" in request.headers.get("accept", ""):
        return Response(_csv(points), media_type="text/csv")
    return points


def _csv(points: list[HistoryPoint]) -> str:
    columns = ["recorded_at", "as_of", "artifact_id", "reports_used"]
    columns += [f"{o}_{part}" for o in OUTCOMES for part in ("mean", "lower", "upper")]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for point in points:
        probabilities = {p.outcome: p for p in point.probabilities}
        row: list[str | int | float] = [
            point.recorded_at.isoformat(),
            point.as_of.isoformat(),
            point.artifact_id,
            point.reports_used,
        ]
        for outcome in OUTCOMES:
            p = probabilities[outcome]
            row += [p.mean, p.lower, p.upper]
        writer.writerow(row)
    return out.getvalue()
