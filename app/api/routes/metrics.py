"""`/metrics` for Prometheus (and Grafana): see `app.metrics`."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import ServiceDep
from app.forecasting import today
from app.metrics import CaseFigures, exposition, probabilities

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(service: ServiceDep) -> Response:
    """Request counts and latencies per route (this process), and per case its outcome
    probabilities (as `GET .../forecast` serves them), report count and last report time,
    and the model artifact's age."""
    engine = service.engine
    cases = []
    for case_id, (reports, last) in (await service.report_counts()).items():
        means = {}
        if engine is not None:  # not ready: no forecast, the other gauges still
            means = probabilities((await service.current(engine, case_id, today())).payload)
        cases.append(CaseFigures(case_id, means, reports, last))
    artifact_id = engine.artifact.id if engine is not None else None
    fitted = dt.datetime.fromisoformat(engine.artifact.meta["fitted_at"]) if engine else None
    body = exposition(service.metrics, cases, artifact_id, fitted)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
