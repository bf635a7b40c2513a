"""A case's forecast, cheap to poll: strong ETag, 304 on If-None-Match."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response

from app.api.deps import EngineDep, SessionDep
from app.forecasting import case_forecast, etag, today
from app.schemas import ForecastOut
from app.store import reports as store
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
    on = today()
    if as_of is not None and as_of > on:
        raise EvidenceError("query.as_of", f"{as_of} is in the future")
    day = as_of or on
    rows = store.list_reports(session, case_id)
    tag = etag(engine, rows, day)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if tag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return case_forecast(engine, case_id, rows, day)
