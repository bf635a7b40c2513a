"""`/metrics` for Prometheus (and Grafana): see `app.metrics`."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.datastructures import State

from app.api.routes.forecast import current
from app.forecasting import today
from app.metrics import CaseFigures, case_counts, exposition, probabilities

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Request counts and latencies per route (this process), and per case its outcome
    probabilities (as `GET .../forecast` serves them), report count and last report time,
    and the model artifact's age."""
    state, engine = request.app.state, request.app.state.engine
    counts = await run_in_threadpool(_counts, state)
    cases = []
    for case_id, (reports, last) in counts.items():
        means = {}
        if engine is not None:  # not ready: no forecast, the other gauges still
            means = probabilities((await current(state, engine, case_id, today())).payload)
        cases.append(CaseFigures(case_id, means, reports, last))
    artifact_id = engine.artifact.id if engine is not None else None
    fitted = dt.datetime.fromisoformat(engine.artifact.meta["fitted_at"]) if engine else None
    body = exposition(state.metrics, cases, artifact_id, fitted)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def _counts(state: State) -> dict[str, tuple[int, dt.datetime | None]]:
    with state.sessions() as session:
        return case_counts(session)
