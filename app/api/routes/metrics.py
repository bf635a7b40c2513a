"""`/metrics` for Prometheus (and Grafana): see `app.metrics`."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from app.api.deps import ServiceDep
from app.metrics import exposition

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(service: ServiceDep) -> Response:
    """Request counts and latencies per route (this process), and per case its outcome
    probabilities (its live forecast's), report count and last report time, and the model
    artifact's age. The case gauges are built off the event loop (`app.metrics.CaseGauges`)."""
    engine = service.engine
    artifact_id = engine.artifact.id if engine is not None else None
    fitted = dt.datetime.fromisoformat(engine.artifact.meta["fitted_at"]) if engine else None
    case_gauges = await service.case_gauges.text(artifact_id)
    body = exposition(service.metrics, case_gauges, artifact_id, fitted)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
