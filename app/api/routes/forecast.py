"""A case's forecast, cheap to poll (strong ETag, 304 on If-None-Match), and its history."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Row
from sqlalchemy.orm import Session
from starlette.datastructures import State

from app import live
from app import timeline as timelines
from app.api import API
from app.api.deps import CaseId, EngineDep, SessionDep
from app.api.responses import CASE, errors
from app.forecasting import etag, forecast_from, known_on, today
from app.live import Served
from app.schemas import ChangesOut, HistoryPoint, TimelineOut
from app.store import history
from app.store import reports as store
from app.store.cases import CaseHead, case_head
from models.catalog import OUTCOMES
from models.engine import Engine
from models.errors import EvidenceError
from models.fields import IsoDate
from models.forecast import ForecastOut
from models.timeline import end_of

router = APIRouter(prefix=f"{API}/cases/{{case_id}}/forecast", tags=["forecast"])

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
    return revalidated(request, served)


def revalidated(request: Request, served: Served) -> Response:
    """The body, or a 304 when the client holds it (If-None-Match), with its ETag."""
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


Start = Annotated[
    IsoDate | None,
    Query(alias="from", description="The first date (default: see each route)."),
]
End = Annotated[
    IsoDate | None,
    Query(alias="to", description="The last date (default: the case's now, its clock or today)."),
]
TIMELINE_SPAN = dt.timedelta(days=364)
SINCE = dt.timedelta(days=30)


@router.get(
    "/timeline",
    response_model=TimelineOut,
    responses={304: {"description": "Not modified"}, **CASE, **errors(429)},
)
async def get_timeline(
    case_id: CaseId,
    request: Request,
    engine: EngineDep,
    start: Start = None,
    end: End = None,
    step: Annotated[int, Query(ge=1, le=366, description="Days between points.")] = 1,
) -> Response:
    """The forecast (means and 90% intervals) at each date from `from` (default: a year before
    `to`, or the case's opening if later) to `to`, every `step` days, replayed from the reports
    known on each date; and the reports known by `to`, each with its observed_on and known_at,
    as markers. At most 1,000 points."""

    def build(session: Session, case: CaseHead, rows: list[Row[Any]]) -> str:
        last = _until(end, case)
        first = start or max(case.opened_on, last - TIMELINE_SPAN)
        days = timelines.dates(first, last, step)
        cache = request.app.state.timeline_points
        return timelines.timeline(engine, case, rows, days, cache).model_dump_json()

    return await _replayed(request, engine, case_id, build)


@router.get("/changes", response_model=ChangesOut, responses={**CASE, **errors(429)})
async def get_changes(
    case_id: CaseId, request: Request, engine: EngineDep, start: Start = None, end: End = None
) -> Response:
    """What moved the forecast from `from` (default: 30 days before `to`) to `to`, as an exact
    decomposition per outcome: a new model, if another served the case at `from` (replayed
    from the artifact archive); each report retracted in between; the ageing of the reports
    that counted at both dates; each report that became known in between. The parts sum to the
    total change. `headline` names the outcome that moved most and the part that moved it most."""

    def build(session: Session, case: CaseHead, rows: list[Row[Any]]) -> str:
        last = _until(end, case)
        first = last - SINCE if start is None else start
        served_by = history.artifact_at(session, case.id, end_of(first))
        start_model = request.app.state.past_models.at_start(engine, served_by)
        answer = timelines.changes(engine, case, rows, (first, last), start_model)
        return answer.model_dump_json()

    return await _replayed(request, engine, case_id, build)


def _until(end: dt.date | None, case: CaseHead) -> dt.date:
    """A period's last date: as asked (not in the future), else the case's now."""
    on = today()
    if end is not None and end > on:
        raise EvidenceError("query.to", f"{end} is in the future")
    return case.now(on) if end is None else end


async def _replayed(
    request: Request,
    engine: Engine,
    case_id: str,
    build: Callable[[Session, CaseHead, list[Row[Any]]], str],
) -> Response:
    """`build`'s JSON from the case and its reports, computed off the event loop a few at a
    time (429 while many wait), with an ETag of its own."""

    def run() -> str:
        with request.app.state.sessions() as session:
            case = case_head(session, case_id)
            rows = store.list_reports(session, case_id)
            return build(session, case, rows)

    async with request.app.state.replays.slot():
        payload = await run_in_threadpool(run)
    return revalidated(request, Served(etag(engine.artifact.id, payload), payload))


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
    """The audit record: every forecast the service has served for the case, in wall-clock
    time, one point per change of evidence or model (`Accept: text/csv` for CSV). For the
    forecast in the case's own time, see `/timeline`."""
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
