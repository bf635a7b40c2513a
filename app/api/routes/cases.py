"""Watched cases."""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from sqlalchemy.orm import Session

from app import live
from app.api.deps import CaseId, EngineDep, SessionDep, WriterDep
from app.api.responses import BODY, CASE, WRITE, errors
from app.forecasting import today
from app.schemas import CaseIn, CaseOut, ClockIn, ForecastOut, PriorIn
from app.store import cases
from models.engine import Engine

router = APIRouter(prefix="/v1/cases", tags=["cases"])


@router.post(
    "",
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriterDep],
    responses=WRITE | BODY | errors(409),
)
def create_case(case: CaseIn, session: SessionDep) -> CaseOut:
    """Start watching a case (token required)."""
    return CaseOut.model_validate(cases.create_case(session, case))


@router.get("", response_model=list[CaseOut])
def list_cases(session: SessionDep) -> list[CaseOut]:
    """Every watched case."""
    return [CaseOut.model_validate(row) for row in cases.list_cases(session)]


@router.get("/{case_id}", response_model=CaseOut, responses=CASE)
def get_case(case_id: CaseId, session: SessionDep) -> CaseOut:
    """One watched case."""
    return CaseOut.model_validate(cases.get_case(session, case_id))


@router.put(
    "/{case_id}/prior",
    response_model=ForecastOut,
    dependencies=[WriterDep],
    responses={200: {"description": "The case's forecast under its new prior"}}
    | WRITE
    | BODY
    | CASE,
)
def set_prior(case_id: CaseId, body: PriorIn, session: SessionDep, engine: EngineDep) -> Response:
    """Fix the case's outcome prior (an analyst's judgement), or return it to its kind's
    population prior with null; answers the forecast under it (token required)."""
    cases.begin_writing(session)
    cases.lock_case(session, case_id)
    head = cases.set_prior(session, case_id, body.outcome_prior)
    return _forecast_after(session, engine, head)


@router.put(
    "/{case_id}/clock",
    response_model=ForecastOut,
    dependencies=[WriterDep],
    responses={200: {"description": "The case's forecast at its new clock"}} | WRITE | BODY | CASE,
)
def set_clock(case_id: CaseId, body: ClockIn, session: SessionDep, engine: EngineDep) -> Response:
    """Pin the case's clock to a date (historical: forecasts without as_of are as of it) or,
    with null, make it live (as of today); answers the forecast at its new "now" (token
    required)."""
    cases.begin_writing(session)
    cases.lock_case(session, case_id)
    head = cases.set_clock(session, case_id, body.clock, today())
    return _forecast_after(session, engine, head)


def _forecast_after(session: Session, engine: Engine, head: cases.CaseHead) -> Response:
    """Commit a change to the case with its live forecast brought in step, and answer it."""
    served = live.update(session, engine, head, today())
    session.commit()
    headers = {"ETag": served.etag}
    return Response(served.payload, media_type="application/json", headers=headers)
