"""A case's forecast, cheap to poll (strong ETag, 304 on If-None-Match), and its history."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Row
from sqlalchemy.orm import Session

from app import timeline as timelines
from app.api import API
from app.api.deps import CaseId, ServiceDep, SessionDep
from app.api.pages import LINK_HEADER, HistoryPage, paged
from app.api.responses import CASE, errors
from app.forecasting import today
from app.live import Served
from app.schemas import ChangesOut, HistoryPoint, TimelineOut
from app.service import ForecastService
from app.store import history
from app.store.cases import CaseHead, get_case
from app.store.pages import Page
from models.catalog import OUTCOMES
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
    case_id: CaseId,
    request: Request,
    service: ServiceDep,
    as_of: IsoDate | None = None,
) -> Response:
    """The forecast now, or replayed `as_of` a past date with only the reports known then."""
    engine = service.model()
    on = today()
    if as_of is not None:
        if as_of > on:
            raise EvidenceError("query.as_of", f"{as_of} is in the future")
        served = await service.replay(engine, case_id, as_of)
    else:
        served = await service.current(engine, case_id, on)
    return revalidated(request, served)


def revalidated(request: Request, served: Served) -> Response:
    """The body, or a 304 when the client holds it (If-None-Match), with its ETag."""
    headers = {"ETag": served.etag, "Cache-Control": CACHE_CONTROL}
    if served.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(served.payload, media_type="application/json", headers=headers)


Start = Annotated[
    IsoDate | None,
    Query(alias="from", description="The first date (default: see each route)."),
]
End = Annotated[
    IsoDate | None,
    Query(alias="to", description="The last date (default: the case's now, its clock or today)."),
]


@dataclass(frozen=True)
class Period:
    start: dt.date | None
    end: dt.date | None


async def period_asked(start: Start = None, end: End = None) -> Period:
    """The dates a timeline or a decomposition runs between, as asked."""
    return Period(start, end)


PeriodDep = Annotated[Period, Depends(period_asked)]
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
    service: ServiceDep,
    period: PeriodDep,
    step: Annotated[int, Query(ge=1, le=366, description="Days between points.")] = 1,
) -> Response:
    """The forecast (means and 90% intervals) at each date from `from` (default: a year before
    `to`, or the case's opening if later) to `to`, every `step` days, replayed from the reports
    known on each date; and the reports known by `to`, each with its observed_on and known_at,
    as markers. At most 1,000 points."""
    engine = service.model()

    def build(session: Session, case: CaseHead, rows: list[Row[Any]]) -> str:
        last = _until(period.end, case)
        first = period.start or max(case.opened_on, last - TIMELINE_SPAN)
        days = timelines.dates(first, last, step)
        cache = service.timeline_points
        return timelines.timeline(engine, case, rows, days, cache).model_dump_json()

    return revalidated(request, await service.replayed(engine, case_id, build))


@router.get("/changes", response_model=ChangesOut, responses={**CASE, **errors(429)})
async def get_changes(
    case_id: CaseId, request: Request, service: ServiceDep, period: PeriodDep
) -> Response:
    """What moved the forecast from `from` (default: 30 days before `to`) to `to`, as an exact
    decomposition per outcome: a new model, if another served the case at `from` (replayed
    from the artifact archive); each report retracted in between; the ageing of the reports
    that counted at both dates; each report that became known in between. The parts sum to the
    total change. `headline` names the outcome that moved most and the part that moved it most."""
    engine = service.model()

    def build(session: Session, case: CaseHead, rows: list[Row[Any]]) -> str:
        last = _until(period.end, case)
        first = last - SINCE if period.start is None else period.start
        served_by = history.artifact_at(session, case.id, end_of(first))
        start_model = service.past_models.at_start(engine, served_by)
        answer = timelines.changes(engine, case, rows, (first, last), start_model)
        return answer.model_dump_json()

    return revalidated(request, await service.replayed(engine, case_id, build))


def _until(end: dt.date | None, case: CaseHead) -> dt.date:
    """A period's last date: as asked (not in the future), else the case's now."""
    on = today()
    if end is not None and end > on:
        raise EvidenceError("query.to", f"{end} is in the future")
    return case.now(on) if end is None else end


@router.get(
    "/history",
    response_model=list[HistoryPoint],
    responses={
        200: {
            "content": {"text/csv": {}},
            "description": "A page of JSON, or the whole history as CSV on request.",
            "headers": LINK_HEADER,
        },
        **CASE,
    },
)
def get_history(
    case_id: CaseId, request: Request, session: SessionDep, service: ServiceDep, page: HistoryPage
) -> Response:
    """The audit record: every forecast the service has served for the case, in wall-clock
    time, one point per change of evidence or model, a page at a time (`Link`: the next
    page). `Accept: text/csv` streams the whole record as CSV, oldest first. For the forecast
    in the case's own time, see `/timeline`."""
    if "text/csv" in request.headers.get("accept", ""):
        get_case(session, case_id)  # a 404 before the stream starts
        return StreamingResponse(_csv(service, case_id), media_type="text/csv")
    rows, after = history.points(session, case_id, page)
    return paged(request, "[" + ",".join(row.point for row in rows) + "]", after)


CSV_BATCH = 1000
"""Points read at a time for a CSV export, each batch in a session of its own."""


def _csv(service: ForecastService, case_id: str) -> Iterator[str]:
    """The case's whole history as CSV, a batch of points at a time: memory stays bounded
    however long the record, and no transaction stays open while the client reads."""
    columns = ["recorded_at", "as_of", "artifact_id", "reports_used"]
    columns += [f"{o}_{part}" for o in OUTCOMES for part in ("mean", "lower", "upper")]
    yield _csv_line(columns)
    page: Page | None = Page(limit=CSV_BATCH)
    while page is not None:
        with service.sessions() as session:
            rows, after = history.points(session, case_id, page)
        yield "".join(_csv_line(_csv_row(json.loads(row.point))) for row in rows)
        page = None if after is None else Page(limit=CSV_BATCH, after=after)


def _csv_row(point: dict[str, Any]) -> list[str | int | float]:
    probabilities = {p["outcome"]: p for p in point["probabilities"]}
    row: list[str | int | float] = [
        point["recorded_at"],
        point["as_of"],
        point["artifact_id"],
        point["reports_used"],
    ]
    for outcome in OUTCOMES:
        p = probabilities[outcome]
        row += [p["mean"], p["lower"], p["upper"]]
    return row


def _csv_line(values: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out).writerow(values)
    return out.getvalue()
