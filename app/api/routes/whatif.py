"""What-if: a case's forecast with hypothetical reports, or a scenario file's. Nothing stored."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import API
from app.api.deps import CaseId, ServiceDep
from app.api.responses import BODY, CASE
from app.schemas import WhatIfIn
from models.forecast import ForecastOut

router = APIRouter(prefix=f"{API}/cases/{{case_id}}/what-if", tags=["what-if"])


@router.post("", response_model=ForecastOut, responses=CASE | BODY)
async def what_if(case_id: CaseId, body: WhatIfIn, service: ServiceDep) -> ForecastOut:
    """The live reports plus `reports`, as of the case's now; or a scenario's own reports and date.
    Scenarios are read one at a time, in a worker (429 with Retry-After while many wait)."""
    engine = service.model()
    return await service.what_if(engine, case_id, body)
