"""What-if: a case's forecast with hypothetical reports, or a scenario file's. Nothing stored."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.deps import CaseId, EngineDep, SessionDep
from app.forecasting import Known, check_posted, forecast_from, known_on, served_form, today
from app.schemas import ForecastOut, WhatIfIn
from app.store import reports as store
from app.store.cases import case_head
from models.engine import scenario_prior
from models.errors import EvidenceError
from models.scenario import parse_scenario

router = APIRouter(prefix="/v1/cases/{case_id}/what-if", tags=["what-if"])


@router.post("", response_model=ForecastOut)
def what_if(case_id: CaseId, body: WhatIfIn, session: SessionDep, engine: EngineDep) -> ForecastOut:
    """The live reports plus `reports`, as of today; or a scenario's own reports and date."""
    case = case_head(session, case_id)  # 404 for an unknown case
    if body.scenario is not None:
        if body.reports:
            raise EvidenceError("body.reports", "give reports or a scenario, not both")
        loaded = parse_scenario(body.scenario, "body.scenario", engine.catalog)
        scenario = loaded.scenario
        if scenario.base_case != case_id:
            reason = f"the scenario is about case {scenario.base_case!r}, not {case_id!r}"
            raise EvidenceError("body.scenario: base_case", reason)
        if scenario.kind != case.kind:
            reason = f"the scenario is for a {scenario.kind} case; {case_id} is {case.kind}"
            raise EvidenceError("body.scenario: kind", reason)
        # A scenario is self-contained: its kind's population prior or its own override, not
        # the case's (the same file gives the same numbers here and with `forecast run`).
        prior = scenario_prior(scenario.kind, scenario.overrides)
        known = Known(scenario.reports, scenario.as_of, prior)
        forecast = engine.run(scenario)  # as `forecast run` does: one truth
        used = len(scenario.reports)
        return served_form(
            engine, case_id, forecast, known.as_of, known.evidence_hash, used, loaded.sha256
        )
    on = today()
    check_posted(engine, body.reports, on)
    live = known_on(store.list_reports(session, case_id), on, case.prior).reports
    return forecast_from(engine, case_id, Known([*live, *body.reports], on, case.prior))
