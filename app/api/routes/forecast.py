"""A case's forecast, cheap to poll (strong ETag, 304 on If-None-Match), and its history."""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from starlette.datastructures import State

from app import live
from app.api.deps import CaseId, EngineDep, SessionDep
from app.api.responses import CASE
from app.forecasting import etag, forecast_from, known_on, today
from app.live import Served
from app.schemas import ForecastOut, HistoryPoint
from app.store import history
from app.store import reports as store
from app.store.cases import case_head
from models.catalog import OUTCOMES
from models.engine import Engine
from models.errors import EvidenceError
from models.fields import IsoDate

router = APIRouter(prefix="/v1/cases/{case_id}/forecast", tags=["forecast"])

CACHE_CONTROL = "no-cache"  # always revalidate: the ETag makes that a cheap 304


@router.get(
    "", response_model=ForecastOut, responses={304: {"description": "Not modified"}, **CASE}
)
async def get_forecast(
    case_id: CaseId, request: Request, engine: EngineDep, as_of: IsoDate | None = None
) -> Response:
    """The forecast now, or replayed `as_of` a past date with only the reports known then."""
    on = today()
    if as_of is not None:
        if as_of > on:
            raise EvidenceError("query.as_of", f"{as_of} is in the future")
        served = await run_in_threadpool(_replay, request, engine, case_id, as_of)
    else:
        served = await current(request.app.state, engine, case_id, on)
    headers = {"ETag": served.etag, "Cache-Control": CACHE_CONTROL}
    if served.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(served.payload, media_type="application/json", headers=headers)


async def current(state: State, engine: Engine, case_id: str, on: dt.date) -> Served:
    """Today's forecast: the stored one, else brought up to date (off the event loop). 404 for
    an unknown case. What a poll, an event stream and a metrics scrape all serve."""
    artifact_id = engine.artifact.id
    stored: Served | None
    if state.local_polls is not None:
        # One row by primary key from a local WAL database: microseconds that never wait for
        # a writer. A hop to the thread pool costs more than the read (measured: the poll rate
        # doubles without it). A network database is read off the event loop.
        stored = state.local_polls.stored(case_id, on, artifact_id)
    else:
        stored = await run_in_threadpool(live.stored, state.database, case_id, on, artifact_id)
    if stored is not None:
        return stored
    return await run_in_threadpool(_refresh, state, engine, case_id, on)


def _refresh(state: State, engine: Engine, case_id: str, on: dt.date) -> Served:
    with state.sessions() as session:
        return live.refresh(session, engine, case_id, on)


def _replay(request: Request, engine: Engine, case_id: str, as_of: dt.date) -> Served:
    """The forecast with the reports known at the end of `as_of` (not history, not stored)."""
    with request.app.state.sessions() as session:
        prior = case_head(session, case_id).prior
        known = known_on(store.list_reports(session, case_id), as_of, prior)
    payload = forecast_from(engine, case_id, known).model_dump_json()
    return Served(etag(engine.artifact.id, payload), payload)


@router.get(
    "/history",
    response_model=list[HistoryPoint],
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON, or CSV on request"},
        **CASE,
    },
)
def get_history(
    case_id: CaseId, request: Request, session: SessionDep
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
