"""Reports on a case: post (one or a batch, the updated forecast in the answer), list, retract."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Body, Query, status

from app import live
from app.api.deps import EngineDep, SessionDep, WriterDep
from app.forecasting import check_posted, today
from app.schemas import PostedReports, ReportIn, ReportOut
from app.store import reports as store
from app.store.cases import lock_case
from models.errors import EvidenceError
from models.yamlio import did_you_mean

router = APIRouter(prefix="/v1/cases/{case_id}/reports", tags=["reports"])

MAX_BATCH = 500


@router.post(
    "",
    response_model=PostedReports,
    status_code=status.HTTP_201_CREATED,
    dependencies=[WriterDep],
)
def post_reports(
    case_id: str,
    body: Annotated[ReportIn | list[ReportIn], Body()],
    session: SessionDep,
    engine: EngineDep,
) -> PostedReports:
    """Add one report or a batch (all or nothing); the answer carries the updated forecast."""
    batch = body if isinstance(body, list) else [body]
    if not 1 <= len(batch) <= MAX_BATCH:
        raise EvidenceError("body", f"send between 1 and {MAX_BATCH} reports, not {len(batch)}")
    on = today()
    check_posted(engine, batch, on)
    lock_case(session, case_id)
    stored, new = store.add_reports(session, case_id, batch)
    forecast = live.update(session, engine, case_id, on, added=new)[0]
    session.commit()
    return PostedReports(reports=[ReportOut.model_validate(r) for r in stored], forecast=forecast)


@router.get("", response_model=list[ReportOut])
def list_reports(
    case_id: str,
    session: SessionDep,
    engine: EngineDep,
    indicator: Annotated[str | None, Query(max_length=64)] = None,
    since: dt.date | None = None,
) -> list[ReportOut]:
    """A case's reports, retracted ones included (see retracted_at)."""
    if indicator is not None and indicator not in engine.catalog.position:
        hint = did_you_mean(indicator, engine.catalog.ids)
        raise EvidenceError("query.indicator", f"unknown indicator {indicator!r}{hint}")
    rows = store.list_reports(session, case_id, indicator, since)
    return [ReportOut.model_validate(row) for row in rows]


@router.delete("/{report_id}", response_model=ReportOut, dependencies=[WriterDep])
def retract_report(
    case_id: str, report_id: int, session: SessionDep, engine: EngineDep
) -> ReportOut:
    """Retract a report: it stops counting but stays in the audit trail."""
    lock_case(session, case_id)
    row, now_retracted = store.retract_report(session, case_id, report_id)
    if now_retracted:
        live.update(session, engine, case_id, today(), retracted=[row])
    session.commit()
    return ReportOut.model_validate(row)
