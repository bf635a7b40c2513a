"""A case's forecast as server-sent events: one on connecting, then one on every change."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from app.api import API
from app.api.deps import CaseId, ServiceDep
from app.api.responses import CASE
from app.forecasting import today
from models.contract import MAX_EVENT_ID

router = APIRouter(prefix=f"{API}/cases/{{case_id}}/events", tags=["events"])


@router.get(
    "",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "Forecast events"},
        **CASE,
    },
)
async def forecast_events(
    case_id: CaseId,
    service: ServiceDep,
    last_event_id: Annotated[str | None, Header(max_length=MAX_EVENT_ID)] = None,
) -> StreamingResponse:
    """`event: forecast`, `id: <ETag>`, `data: <the forecast>`: the current forecast first
    (unless `Last-Event-ID` is its ETag), then every new one, within a second of its being
    stored by any worker or replica. Comment lines keep an idle stream open."""
    engine = service.model()
    now = await service.current(engine, case_id, today())  # 404 before streaming
    stream = service.events.stream(case_id, now, last_event_id)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
