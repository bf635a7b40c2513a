"""Watched cases."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from app import live
from app.api.deps import CaseId, EngineDep, SessionDep, WriterDep
from app.api.responses import BODY, CASE, WRITE, errors
from app.forecasting import today
from app.schemas import CaseIn, CaseOut, ForecastOut, PriorIn
from app.store import cases

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
    served = live.update(session, engine, head, today())
    session.commit()
    headers = {"ETag": served.etag}
    return Response(served.payload, media_type="application/json", headers=headers)
