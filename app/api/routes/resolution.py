"""How a case ended (admin), how well it was forecast, the track record over every resolved
case, and a resolved case offered as a reference case."""

from __future__ import annotations

import json
from typing import Annotated

import yaml
from fastapi import APIRouter, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app import live
from app.api import API
from app.api.deps import AdminDep, CaseId, EngineDep, ServiceDep, SessionDep
from app.api.responses import BODY, CASE, WRITE, errors
from app.forecasting import today
from app.schemas import (
    CaseScoreOut,
    ResolutionIn,
    ResolutionOut,
    ResolutionRecordOut,
    TrackRecordOut,
)
from app.service import ForecastService
from app.store import history, resolutions
from app.store import reports as store
from app.store.cases import begin_writing, case_head, get_case, lock_case
from app.track import reference_candidate, resolved_case
from models.contract import MAX_NOTE
from models.engine import Engine
from models.errors import ConflictError
from models.fields import Text
from models.track_record import case_record, track_record

router = APIRouter(prefix=API, tags=["resolution and track record"])
ENTRY = errors(409)


@router.post(
    "/cases/{case_id}/resolution",
    response_model=ResolutionRecordOut,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE | BODY | CASE | ENTRY,
)
def resolve(
    case_id: CaseId, body: ResolutionIn, session: SessionDep, engine: EngineDep, actor: AdminDep
) -> ResolutionRecordOut:
    """Resolve a case, or correct its resolution (an admin's key): its forecasts are frozen at
    the resolution date from then on, and it is scored. Every entry stays in its record."""
    begin_writing(session)
    lock_case(session, case_id)
    resolutions.resolve(session, case_id, body, actor.name, today())
    live.update(session, engine, case_head(session, case_id), today())
    session.commit()
    return _record(session, case_id)


@router.delete(
    "/cases/{case_id}/resolution",
    response_model=ResolutionRecordOut,
    responses=WRITE | CASE | ENTRY,
)
def withdraw(
    case_id: CaseId,
    session: SessionDep,
    engine: EngineDep,
    actor: AdminDep,
    note: Annotated[Text, Query(max_length=MAX_NOTE, description="Why it is withdrawn.")],
) -> ResolutionRecordOut:
    """Withdraw a case's resolution (an admin's key): the case is open again, its record kept."""
    begin_writing(session)
    lock_case(session, case_id)
    resolutions.withdraw(session, case_id, note, actor.name)
    live.update(session, engine, case_head(session, case_id), today())
    session.commit()
    return _record(session, case_id)


@router.get("/cases/{case_id}/resolution", response_model=ResolutionRecordOut, responses=CASE)
def resolution_record(case_id: CaseId, session: SessionDep) -> ResolutionRecordOut:
    """The case's resolution as it stands (null when open) and every entry of its record."""
    return _record(session, case_id)


def _record(session: Session, case_id: str) -> ResolutionRecordOut:
    rows = resolutions.record_of(session, case_id)
    entries = [ResolutionOut.model_validate(row) for row in rows]
    standing = None if resolutions.standing(rows) is None else entries[-1]
    links = {}
    if standing is not None:
        base = f"/v1/cases/{case_id}"
        links = {"reference_case": f"{base}/reference-case?format=yaml", "score": f"{base}/score"}
    return ResolutionRecordOut(case_id=case_id, resolution=standing, record=entries, **links)


@router.get(
    "/cases/{case_id}/score", response_model=CaseScoreOut, responses=CASE | errors(409, 429)
)
async def case_score(case_id: CaseId, service: ServiceDep) -> CaseScoreOut:
    """How well a resolved case was forecast: the forecast in force each day, time-averaged,
    and at 30, 60 and 90 days before the outcome; Brier, log score and RPS, each beside the
    base rate's (lower is better)."""
    engine = service.model()
    async with service.replays.slot():
        return await run_in_threadpool(_case_score, service, engine, case_id)


def _case_score(service: ForecastService, engine: Engine, case_id: str) -> CaseScoreOut:
    with service.sessions() as session:
        case = get_case(session, case_id)
        entry = resolutions.current(session, case_id)
        if entry is None:
            raise ConflictError(
                "path.case_id", f"case {case_id!r} is not resolved: nothing to score"
            )
        rows = store.list_reports(session, case_id)
        served = history.models_served(session, case_id)
    scored = resolved_case(
        engine, service.past_models, case, entry, rows, served, service.timeline_points
    )
    return CaseScoreOut.of(engine.artifact.id, case_record(scored.case), scored)


@router.get("/track-record", response_model=TrackRecordOut, responses=errors(429))
async def track(service: ServiceDep) -> TrackRecordOut:
    """Every resolved case scored, and over all of them: the scores with bootstrap 90%
    intervals (resampling cases) beside the base rate's, at each lead time too; a calibration
    table (forecast tenths against how often the outcome came, Wilson 90% intervals); and
    discrimination (AUC per outcome). Each case weighs once, however long it ran."""
    engine = service.model()
    async with service.replays.slot():
        return await run_in_threadpool(_track, service, engine)


def _track(service: ForecastService, engine: Engine) -> TrackRecordOut:
    past, cache = service.past_models, service.timeline_points
    with service.sessions() as session:
        resolved = [
            (
                case,
                entry,
                store.list_reports(session, case.id),
                history.models_served(session, case.id),
            )
            for case, entry in resolutions.resolved_cases(session)
        ]
    cases = [resolved_case(engine, past, *one, cache).case for one in resolved]
    return TrackRecordOut.of(engine.artifact.id, track_record(cases))


@router.get(
    "/cases/{case_id}/reference-case",
    responses={200: {"content": {"application/yaml": {}}}} | CASE | errors(409),
)
def reference_case(
    case_id: CaseId,
    session: SessionDep,
    engine: EngineDep,
    format: Annotated[str, Query(pattern="^(json|yaml)$")] = "json",
) -> Response:
    """A resolved case as a candidate reference case, in the reference-case format (YAML, to
    paste into the reference set after checking it against the codebook; or JSON)."""
    case = get_case(session, case_id)
    entry = resolutions.current(session, case_id)
    if entry is None:
        raise ConflictError("path.case_id", f"case {case_id!r} is not resolved")
    candidate = reference_candidate(engine, case, entry, store.list_reports(session, case_id))
    if format == "yaml":
        text = yaml.safe_dump([candidate], sort_keys=False, allow_unicode=True)
        return Response(text, media_type="application/yaml")
    return Response(json.dumps(candidate), media_type="application/json")
