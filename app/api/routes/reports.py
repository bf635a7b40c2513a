"""Reports on a case: post (one or a batch, the updated forecast in the answer), list, retract."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, HTTPException, Query, Request, Response, status

from app.api import API
from app.api.deps import (
    BEARER,
    AnalystDep,
    CaseId,
    EngineDep,
    PresentedDep,
    ReportId,
    ServiceDep,
    SessionDep,
    service_of,
)
from app.api.pages import PAGED, ReportsPage, paged
from app.api.responses import BODY, CASE, READ, WRITE, errors
from app.forecasting import check_posted, today
from app.schemas import PostedReports, ReportIn, ReportOut, reports_json
from app.store import reports as store
from models.contract import MAX_INDICATOR_ID, MAX_REPORTS
from models.errors import EvidenceError
from models.fields import IsoDate, Moment
from models.yamlio import did_you_mean

router = APIRouter(prefix=f"{API}/cases/{{case_id}}/reports", tags=["reports"])
posting = APIRouter(prefix=router.prefix, tags=router.tags)
"""The POST alone: an analyst's key, checked by the report writer, is all it needs (the
readers' check, `ReaderDep`, would be one more dependency to solve on the hottest write)."""


@posting.post(
    "",
    response_model=PostedReports,
    status_code=status.HTTP_201_CREATED,
    responses=READ | WRITE | BODY | CASE | errors(409),
    openapi_extra=BEARER,
)
async def post_reports(
    case_id: CaseId,
    body: Annotated[ReportIn | list[ReportIn], Body()],
    request: Request,
    presented: PresentedDep,
) -> Response:
    """Add one report or a batch (all or nothing; an analyst's key); the answer carries the
    updated forecast."""
    service = service_of(request)  # not ServiceDep: one dependency fewer to solve per POST
    engine = service.model()
    batch = body if isinstance(body, list) else [body]
    if not 1 <= len(batch) <= MAX_REPORTS:
        raise EvidenceError("body", f"send between 1 and {MAX_REPORTS} reports, not {len(batch)}")
    on = today()
    check_posted(engine, batch, on)
    try:
        written = await service.post(engine, case_id, batch, on, presented.secret)
    except HTTPException as refused:
        presented.settle(refused)
        raise
    presented.settle(None)
    # The forecast is stored as JSON: splice it in rather than parse and re-serialise it.
    content = f'{{"reports":{written.reports},"forecast":{written.forecast.payload}}}'
    return Response(content, status_code=status.HTTP_201_CREATED, media_type="application/json")


@router.get("", response_model=list[ReportOut], responses=CASE | PAGED)
def list_reports(
    case_id: CaseId,
    request: Request,
    session: SessionDep,
    engine: EngineDep,
    page: ReportsPage,
    indicator: Annotated[str | None, Query(max_length=MAX_INDICATOR_ID)] = None,
    since: IsoDate | None = None,
) -> Response:
    """A case's reports, retracted ones included (see retracted_at), a page at a time in the
    order they were observed (`Link`: the next page)."""
    if indicator is not None and indicator not in engine.catalog.position:
        hint = did_you_mean(indicator, engine.catalog.ids)
        raise EvidenceError("query.indicator", f"unknown indicator {indicator!r}{hint}")
    rows, after = store.reports_page(session, case_id, page, indicator, since)
    return paged(request, reports_json(rows), after)


@router.delete("/{report_id}", response_model=ReportOut, responses=WRITE | CASE)
async def retract_report(
    case_id: CaseId,
    report_id: ReportId,
    service: ServiceDep,
    actor: AnalystDep,
    retracted_at: Annotated[
        Moment | None,
        Query(
            description="When the report was withdrawn, if before now (not before it was "
            "known): replays of later dates leave it out. Default: now."
        ),
    ] = None,
) -> ReportOut:
    """Retract a report: it stops counting (from `retracted_at`) but stays in the audit trail."""
    engine = service.model()
    now = dt.datetime.now(dt.UTC)
    if retracted_at is not None and retracted_at > now:
        raise EvidenceError("query.retracted_at", f"{retracted_at.isoformat()} is in the future")
    return await service.retract(engine, case_id, report_id, retracted_at or now, actor.name)
