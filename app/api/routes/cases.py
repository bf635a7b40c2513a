"""Watched cases."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status
from fastapi.encoders import jsonable_encoder
from pydantic import TypeAdapter
from sqlalchemy.orm import Session

from app import live
from app.api import API
from app.api.deps import AnalystDep, CaseId, EngineDep, SessionDep
from app.api.pages import PAGED, CasesPage, paged
from app.api.responses import BODY, CASE, WRITE, errors
from app.forecasting import today
from app.schemas import CaseIn, CaseOut, ClockIn, PriorIn
from app.store import cases, keys
from app.store.keys import Actor
from models.engine import Engine
from models.forecast import ForecastOut

router = APIRouter(prefix=f"{API}/cases", tags=["cases"])


@router.post(
    "",
    response_model=CaseOut,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE | BODY | errors(409),
)
def create_case(case: CaseIn, session: SessionDep, actor: AnalystDep) -> CaseOut:
    """Start watching a case (an analyst's key)."""
    return CaseOut.model_validate(cases.create_case(session, case, actor.name))


@router.get("", response_model=list[CaseOut], responses=PAGED)
def list_cases(request: Request, session: SessionDep, page: CasesPage) -> Response:
    """The watched cases, a page at a time in the order of their ids (`Link`: the next page)."""
    rows, after = cases.list_cases(session, page)
    content = _CASES.dump_json([CaseOut.model_validate(row) for row in rows]).decode()
    return paged(request, content, after)


_CASES = TypeAdapter(list[CaseOut])


@router.get("/{case_id}", response_model=CaseOut, responses=CASE)
def get_case(case_id: CaseId, session: SessionDep) -> CaseOut:
    """One watched case."""
    return CaseOut.model_validate(cases.get_case(session, case_id))


@router.put(
    "/{case_id}/prior",
    response_model=ForecastOut,
    responses={200: {"description": "The case's forecast under its new prior"}}
    | WRITE
    | BODY
    | CASE,
)
def set_prior(
    case_id: CaseId, body: PriorIn, session: SessionDep, engine: EngineDep, actor: AnalystDep
) -> Response:
    """Fix the case's outcome prior (an analyst's judgement), or return it to its kind's
    population prior with null; answers the forecast under it (an analyst's key)."""
    cases.begin_writing(session)
    cases.lock_case(session, case_id)
    head = cases.set_prior(session, case_id, body.outcome_prior)
    return _forecast_after(session, engine, head, actor, ("case.prior", body.model_dump()))


@router.put(
    "/{case_id}/clock",
    response_model=ForecastOut,
    responses={200: {"description": "The case's forecast at its new clock"}} | WRITE | BODY | CASE,
)
def set_clock(
    case_id: CaseId, body: ClockIn, session: SessionDep, engine: EngineDep, actor: AnalystDep
) -> Response:
    """Pin the case's clock to a date (historical: forecasts without as_of are as of it) or,
    with null, make it live (as of today); answers the forecast at its new "now" (an
    analyst's key)."""
    cases.begin_writing(session)
    cases.lock_case(session, case_id)
    head = cases.set_clock(session, case_id, body.clock, today())
    return _forecast_after(session, engine, head, actor, ("case.clock", body.model_dump()))


def _forecast_after(
    session: Session,
    engine: Engine,
    head: cases.CaseHead,
    actor: Actor,
    change: tuple[str, dict[str, Any]],
) -> Response:
    """Commit a change to the case, audited, with its live forecast brought in step, and
    answer it."""
    served = live.update(session, engine, head, today())
    action, detail = change
    keys.record(session.connection(), actor.name, action, head.id, jsonable_encoder(detail))
    session.commit()
    headers = {"ETag": served.etag}
    return Response(served.payload, media_type="application/json", headers=headers)
