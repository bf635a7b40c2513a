"""Alert rules on a case's forecast (webhooks), and each rule's delivery log."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Request, Response, status
from pydantic import TypeAdapter

from app import live
from app.alerts import armed_at
from app.api import API
from app.api.deps import AnalystDep, CaseId, ServiceDep, SessionDep
from app.api.pages import PAGED, LogPage, paged
from app.api.responses import BODY, CASE, WRITE
from app.forecasting import today
from app.schemas import AlertIn, AlertOut, DeliveryOut, DeliveryState, NewAlertOut
from app.store import alerts as store
from app.store import keys
from app.store.cases import begin_writing, case_head, lock_case
from app.store.tables import AlertDeliveryRow, AlertRuleRow
from models.contract import MAX_ROW_ID
from models.errors import InputError

router = APIRouter(prefix=f"{API}/cases/{{case_id}}/alerts", tags=["alerts"])
RuleId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="The rule's id.")]


@router.post(
    "",
    response_model=NewAlertOut,
    status_code=status.HTTP_201_CREATED,
    responses=WRITE | BODY | CASE,
)
def subscribe(
    case_id: CaseId,
    body: AlertIn,
    service: ServiceDep,
    session: SessionDep,
    actor: AnalystDep,
) -> NewAlertOut:
    """Subscribe a webhook to a crossing of the case's forecast (an analyst's key). A rule made
    while the forecast is already past its threshold does not fire: it waits to come back past
    the band. The answer holds the secret that signs each delivery, shown this once."""
    engine = service.model()
    allowed = service.settings.alert_hosts
    if allowed is not None and (host := urlsplit(body.url).hostname) not in allowed:
        reason = f"this service delivers alerts only to {', '.join(allowed)}, not to {host}"
        raise InputError("body.url", reason)
    begin_writing(session)
    case = lock_case(session, case_id)
    forecast = json.loads(live.update(session, engine, case, today()).payload)
    now = next(p["mean"] for p in forecast["probabilities"] if p["outcome"] == body.outcome)
    armed = armed_at(body.direction, body.threshold, now)
    rule = store.create_rule(session, case_id, body, armed, actor.name)
    detail = body.model_dump(exclude={"secret"}) | {"rule": rule.id}
    keys.record(session.connection(), actor.name, "alert.create", case_id, detail)
    session.commit()
    return NewAlertOut(**_listed(rule, None).model_dump(), url=rule.url, secret=rule.secret)


@router.get("", response_model=list[AlertOut], responses=CASE)
def list_rules(case_id: CaseId, session: SessionDep) -> list[AlertOut]:
    """The case's rules, stopped ones too, each with its state and latest delivery."""
    case_head(session, case_id)  # a 404 for an unknown case
    return [_listed(rule, last) for rule, last in store.rules_of(session, case_id)]


@router.delete("/{rule_id}", response_model=AlertOut, responses=WRITE | CASE)
def unsubscribe(
    case_id: CaseId, rule_id: RuleId, session: SessionDep, actor: AnalystDep
) -> AlertOut:
    """Stop a rule (an analyst's key): it fires no more, its pending deliveries are cancelled,
    and it stays listed with who stopped it."""
    begin_writing(session)
    lock_case(session, case_id)
    rule, now_stopped = store.delete_rule(session, case_id, rule_id, actor.name)
    if now_stopped:
        detail = {"rule": rule_id}
        keys.record(session.connection(), actor.name, "alert.delete", case_id, detail)
    session.commit()
    return _listed(rule, None)


@router.get("/{rule_id}/deliveries", response_model=list[DeliveryOut], responses=CASE | PAGED)
def delivery_log(
    case_id: CaseId, rule_id: RuleId, request: Request, session: SessionDep, page: LogPage
) -> Response:
    """The rule's deliveries, newest first unless asked, each with its attempts, its last
    result and what it sends, a page at a time (`Link`: the next page)."""
    store.rule_of(session, case_id, rule_id)
    rows, after = store.deliveries_of(session, rule_id, page)
    deliveries = [
        DeliveryOut.model_validate(
            {**DeliveryState.model_validate(row).model_dump(), "payload": json.loads(row.payload)}
        )
        for row in rows
    ]
    return paged(request, _DELIVERIES.dump_json(deliveries).decode(), after)


_DELIVERIES = TypeAdapter(list[DeliveryOut])


def _listed(rule: AlertRuleRow, last: AlertDeliveryRow | None) -> AlertOut:
    parts = urlsplit(rule.url)
    return AlertOut(
        id=rule.id,
        case_id=rule.case_id,
        outcome=rule.outcome,
        direction=rule.direction,  # type: ignore[arg-type]
        threshold=rule.threshold,
        band=rule.band,
        min_reports=rule.min_reports,
        receiver=f"{parts.scheme}://{parts.netloc}",
        armed=rule.armed,
        created_at=rule.created_at,
        created_by=rule.created_by,
        last_fired_at=rule.last_fired_at,
        deleted_at=rule.deleted_at,
        deleted_by=rule.deleted_by,
        last_delivery=None if last is None else DeliveryState.model_validate(last),
    )
