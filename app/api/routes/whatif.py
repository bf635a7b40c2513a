"""What-if: a case's forecast with hypothetical reports, or a scenario file's. Nothing stored."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from app.api import API
from app.api.deps import CaseId, EngineDep, SessionDep
from app.api.responses import BODY, CASE
from app.forecasting import (
    Known,
    check_period,
    check_posted,
    forecast_from,
    known_on,
    today,
)
from app.limits import CostlyWork
from app.scenarios import ScenarioReader
from app.schemas import ReportIn, WhatIfIn
from app.store import reports as store
from app.store.cases import CaseHead, case_head
from models.engine import Engine, scenario_prior
from models.errors import EvidenceError
from models.forecast import ForecastOut
from models.provenance import Provenance
from models.scenario import LoadedScenario

router = APIRouter(prefix=f"{API}/cases/{{case_id}}/what-if", tags=["what-if"])


@router.post("", response_model=ForecastOut, responses=CASE | BODY)
async def what_if(
    case_id: CaseId, body: WhatIfIn, request: Request, session: SessionDep, engine: EngineDep
) -> ForecastOut:
    """The live reports plus `reports`, as of the case's now; or a scenario's own reports and date.
    Scenarios are read one at a time, in a worker (429 with Retry-After while many wait)."""
    case = await run_in_threadpool(case_head, session, case_id)  # 404 for an unknown case
    if body.scenario is None:
        return await run_in_threadpool(_with_reports, case, body.reports, session, engine)
    if body.reports:
        raise EvidenceError("body.reports", "give reports or a scenario, not both")
    gate: CostlyWork = request.app.state.costly_work
    reader: ScenarioReader = request.app.state.scenarios
    async with gate.slot():
        loaded = await reader.read(body.scenario, "body.scenario")
    return await run_in_threadpool(_from_scenario, case, loaded, engine)


def _with_reports(
    case: CaseHead, reports: list[ReportIn], session: Session, engine: Engine
) -> ForecastOut:
    on = case.now(today())
    check_posted(engine, reports, on)  # usable on the case's now, its clock if historical
    check_period(case.opened_on, reports)
    known = known_on(store.list_reports(session, case.id), on, case.prior)
    with_reports = Known([*known.reports, *reports], on, case.prior, known.left_out)
    return forecast_from(engine, case.id, with_reports)


def _from_scenario(case: CaseHead, loaded: LoadedScenario, engine: Engine) -> ForecastOut:
    scenario = loaded.scenario
    if scenario.base_case != case.id:
        reason = f"the scenario is about case {scenario.base_case!r}, not {case.id!r}"
        raise EvidenceError("body.scenario: base_case", reason)
    if scenario.kind != case.kind:
        reason = f"the scenario is for a {scenario.kind} case; {case.id} is {case.kind}"
        raise EvidenceError("body.scenario: kind", reason)
    # A scenario is self-contained: its kind's population prior or its own override, not
    # the case's (the same file gives the same numbers here and with `forecast run`).
    prior = scenario_prior(scenario.kind, scenario.overrides)
    provenance = Provenance.of_reports(scenario.reports, scenario.as_of, prior, loaded.sha256)
    return engine.record(engine.run(scenario), case.id, provenance)  # as `forecast run` does
