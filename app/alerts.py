"""Alerts: a rule's hysteresis, what a crossing sends, and the delivery of the outbox.

A write that moves a case's forecast (`app.live.update`) checks the case's rules in its own
transaction; a rule that fires adds a delivery to the outbox there, so the alert is committed
with the forecast that caused it or not at all. Each process then delivers what is due, at
least once: POSTed as JSON signed with the rule's secret (HMAC-SHA256 over the timestamp and
the body), with the same idempotency key on every attempt, retried with exponential backoff.
A process that dies mid-delivery leaves a lease that runs out; another process, or the same one
restarted, then delivers it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
import random
import ssl
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urljoin

import httpx
import numpy as np
from sqlalchemy import Engine as Database
from sqlalchemy import bindparam, event, insert, select, update
from sqlalchemy.orm import Session

from app.settings import Settings
from app.store import alerts as store
from app.store.cases import begin_writing
from app.store.tables import AlertDeliveryRow, AlertRuleRow, CaseRow
from models.catalog import OUTCOMES
from models.engine import Engine
from models.evidence import as_report, evidence_from_logs, report_log_likelihoods
from models.forecast import ForecastOut, Prior

log = logging.getLogger(__name__)

MOVERS = 3
"""How many indicators a payload names as having moved the forecast most."""


def step(
    direction: str, threshold: float, band: float, armed: bool, probability: float
) -> tuple[bool, bool]:
    """A rule's hysteresis: (armed afterwards, whether it crossed now). An armed rule crosses
    when the probability reaches the threshold in its direction; it re-arms only once the
    probability is back past the threshold by more than the band."""
    beyond = probability >= threshold if direction == "up" else probability <= threshold
    if armed:
        return not beyond, beyond
    back = probability < threshold - band if direction == "up" else probability > threshold + band
    return back, False


def armed_at(direction: str, threshold: float, probability: float) -> bool:
    """A new rule's state: armed unless the forecast is already past its threshold (it then
    waits to come back past the band, and does not fire on being made)."""
    return probability < threshold if direction == "up" else probability > threshold


@dataclass(frozen=True)
class ForecastChange:
    """A write's move of a case's forecast, as `app.live.update` saw it: the forecast served
    before (None for a case's first), the one after, why it moved, the reports that started or
    stopped counting, and the evidence after (to tell which reports moved it most)."""

    case_id: str
    before: str | None
    after: ForecastOut
    cause: str  # reports | ageing | clock | model | prior
    added: Sequence[Any]
    removed: Sequence[Any]
    present: np.ndarray
    absent: np.ndarray
    prior: Prior

    @property
    def reports_changed(self) -> int:
        return len(self.added) + len(self.removed)


_ACTIVE_RULES = (
    select(
        AlertRuleRow.id,
        AlertRuleRow.outcome,
        AlertRuleRow.direction,
        AlertRuleRow.threshold,
        AlertRuleRow.band,
        AlertRuleRow.min_reports,
        AlertRuleRow.armed,
        AlertRuleRow.url,
        AlertRuleRow.secret,
        CaseRow.title,
    )
    .join(CaseRow, CaseRow.id == AlertRuleRow.case_id)
    .where(AlertRuleRow.case_id == bindparam("case_id"), store.ACTIVE)
)
_SET_RULE = update(AlertRuleRow).where(AlertRuleRow.id == bindparam("rule_id"))
_OUTBOX = insert(AlertDeliveryRow).returning(AlertDeliveryRow.id)


def evaluate(session: Session, engine: Engine, change: ForecastChange) -> None:
    """Step each of the case's rules with the new forecast, in the write's transaction, and
    put an alert in the outbox for each that fires. One indexed read when the case has no rule
    (a write's hot path). An alert put in the outbox while this process delivers for the
    database is leased to this process at once and handed to its delivery when the transaction
    commits: no claim, no second write transaction before it is sent."""
    connection = session.connection()
    rules = connection.execute(_ACTIVE_RULES, {"case_id": change.case_id}).all()
    if not rules:
        return
    after = {p.outcome: p for p in change.after.probabilities}
    before = _means(change.before)
    now = _now()
    delivery = _delivery_of(session)
    lease_until = delivery.lease_from(now) if delivery is not None else None
    movers: dict[str, list[dict[str, Any]]] = {}  # per outcome: rules on one share them
    for rule in rules:
        armed, crossed = step(
            rule.direction, rule.threshold, rule.band, rule.armed, after[rule.outcome].mean
        )
        fires = crossed and change.reports_changed >= rule.min_reports
        if armed == rule.armed and not fires:
            continue
        fired = {"last_fired_at": now} if fires else {}
        connection.execute(_SET_RULE, {"rule_id": rule.id, "armed": armed, **fired})
        if fires:
            if rule.outcome not in movers:
                movers[rule.outcome] = _movers(engine, change, rule.outcome)
            payload = _payload(rule, before, after, change, movers[rule.outcome])
            pending = _pending(rule.id, payload, now, lease_until)
            delivery_id = connection.execute(_OUTBOX, pending).scalar_one()
            if delivery is not None:
                due = store.Due(
                    delivery_id,
                    pending["idempotency_key"],
                    pending["payload"],
                    0,
                    rule.url,
                    rule.secret,
                )
                session.info.setdefault(_FIRED, []).append(due)


_FIRED = "alerts fired"
"""A session's list of the alerts its transaction leased to this process's delivery."""


class Delivery(Protocol):
    """What sends the alerts a write fires: `AlertDelivery`, or in the report writer's own
    process what forwards them to it (`app.writer_process`)."""

    def lease_from(self, now: dt.datetime) -> dt.datetime: ...

    def send_soon(self, due: list[store.Due]) -> None: ...


_deliveries: dict[Database, Delivery] = {}
"""The delivery of each database this process serves (one per app)."""


def forward_deliveries(database: Database, delivery: Delivery) -> None:
    """In a process that writes for another (`app.writer_process`): alerts fired by writes to
    `database` go to `delivery`."""
    _deliveries[database] = delivery


def hand_over(database: Database, due: list[store.Due]) -> None:
    """Alerts leased to this process by the report writer's own process, to be sent now (by
    `database`'s delivery; without one, their lease runs out and any process sends them)."""
    delivery = _deliveries.get(database)
    if delivery is not None:
        delivery.send_soon(due)


def _delivery_of(session: Session) -> Delivery | None:
    bind = session.get_bind()
    return _deliveries.get(bind) if isinstance(bind, Database) else None


@event.listens_for(Session, "after_commit")
def _hand_over(session: Session) -> None:
    """Once alerts leased to this process are committed, send them now (from the event loop),
    or when the thread's `sent_after_answers` block ends. Should the delivery have stopped
    meanwhile, the lease runs out and any process sends them."""
    due = session.info.pop(_FIRED, None)
    delivery = _delivery_of(session) if due else None
    if delivery is None:
        return
    held = getattr(_held, "alerts", None)
    if held is None:
        delivery.send_soon(due)
    else:
        held.append((delivery, due))


_held = threading.local()
"""Per thread: the alerts committed inside its `sent_after_answers` block, if in one."""


@contextlib.contextmanager
def sent_after_answers() -> Iterator[None]:
    """Alerts committed in this block (on this thread) are handed to their delivery when it
    ends, not at their commit: the report writer answers the writes of its commit first, so
    that sending an alert does not hold up the answer to the write that fired it (sent at the
    commit, its start ran on the event loop before that answer)."""
    held: list[tuple[Delivery, list[store.Due]]] = []
    _held.alerts = held
    try:
        yield
    finally:
        _held.alerts = None
        for delivery, due in held:
            delivery.send_soon(due)


@event.listens_for(Session, "after_rollback")
def _forget_fired(session: Session) -> None:
    session.info.pop(_FIRED, None)


def _means(served: str | None) -> dict[str, float]:
    if served is None:
        return {}
    return {p["outcome"]: p["mean"] for p in json.loads(served)["probabilities"]}


def _pending(
    rule_id: int, payload: dict[str, Any], now: dt.datetime, lease_until: dt.datetime | None
) -> dict[str, Any]:
    key = payload["delivery"]
    return {
        "rule_id": rule_id,
        "idempotency_key": key,
        "created_at": now,
        "payload": json.dumps(payload, separators=(",", ":")),
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_until": lease_until,
    }


def _payload(
    rule: Any,  # a row of _ACTIVE_RULES
    before: dict[str, float],
    after: dict[str, Any],
    change: ForecastChange,
    movers: list[dict[str, Any]],
) -> dict[str, Any]:
    """What a receiver is sent (but for the link, made absolute when sent)."""
    now, forecast = after[rule.outcome], change.after
    return {
        "event": "forecast.crossed",
        "delivery": str(uuid.uuid4()),
        "fired_at": _now().isoformat(),
        "case": {"id": change.case_id, "title": rule.title},
        "rule": {
            "id": rule.id,
            "outcome": rule.outcome,
            "direction": rule.direction,
            "threshold": rule.threshold,
            "band": rule.band,
            "min_reports": rule.min_reports,
        },
        "outcome": rule.outcome,
        "old_probability": before.get(rule.outcome),
        "new_probability": now.mean,
        "interval": [now.lower, now.upper],
        "words": now.words,
        "as_of": forecast.as_of.isoformat(),
        "cause": change.cause,
        "reports_changed": change.reports_changed,
        "moved_by": movers,
        "link": f"/?as_of={forecast.as_of.isoformat()}#{quote(change.case_id)}",
    }


def _movers(engine: Engine, change: ForecastChange, outcome: str) -> list[dict[str, Any]]:
    """The indicators whose added or retracted reports moved `outcome` most: for each, the
    forecast without that indicator's share of this write, against the forecast with it. One
    lean forecast per indicator touched (paid only when a rule fires)."""
    k = OUTCOMES.index(outcome)
    after = next(p.mean for p in change.after.probabilities if p.outcome == outcome)
    groups: dict[str, tuple[list[Any], list[Any]]] = {}
    for reports, side in ((change.added, 0), (change.removed, 1)):
        for report in reports:
            groups.setdefault(report.indicator, ([], []))[side].append(report)
    moved: list[tuple[float, dict[str, Any]]] = []
    for indicator, (added, removed) in groups.items():
        present, absent = change.present.copy(), change.absent.copy()
        for sign, reports in ((-1.0, added), (1.0, removed)):
            if reports:
                more_present, more_absent = report_log_likelihoods(
                    engine.catalog, [as_report(r) for r in reports], change.after.as_of
                )
                present, absent = present + sign * more_present, absent + sign * more_absent
        without = engine.predictor.means(evidence_from_logs(present, absent), change.prior)[k]
        shift = float(after - without)
        ids = {"added": [r.id for r in added], "retracted": [r.id for r in removed]}
        moved.append((shift, {"indicator": indicator, **ids, "change": shift}))
    moved.sort(key=lambda entry: -abs(entry[0]))
    return [entry for _, entry in moved[:MOVERS]]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Escalation-Signature header: HMAC-SHA256 of "<timestamp>.<body>" under the rule's
    secret. A receiver recomputes it, compares in constant time, and refuses an old timestamp
    (a replay)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def backoff(attempts: int, base: float) -> float:
    """Seconds before the next attempt after `attempts` failed ones: doubling from `base`, at
    most an hour, with a quarter of jitter (receivers coming back are not all hit at once)."""
    return float(min(base * 2 ** (attempts - 1), 3600.0) * random.uniform(1.0, 1.25))


BATCH = 16
"""Deliveries claimed at a time by one process (and sent concurrently)."""
MAX_ERROR = 500


class AlertDelivery:
    """Delivers the outbox for one process, on the event loop, until closed; and with
    `refresh` (a case's forecast brought up to date) keeps the forecast of each case with an
    ageing rule up to date, so that ageing is seen without a read."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        sessions: Callable[[], Session],
        refresh: Callable[[str], Awaitable[object]] | None,
    ) -> None:
        self._settings = settings
        self._database = database
        self._sessions = sessions
        self._refresh = refresh
        self._public_url = settings.public_url or f"http://{settings.host}:{settings.port}"
        self._http = httpx.AsyncClient(
            verify=_tls(), timeout=settings.alert_timeout_seconds, follow_redirects=False
        )
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._refreshed = 0.0

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        _deliveries[self._database] = self
        self._task = asyncio.create_task(self._run(), name="alert-delivery")

    async def close(self) -> None:
        if _deliveries.get(self._database) is self:
            del _deliveries[self._database]
        running = [task for task in (self._task, *self._sending) if task is not None]
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        await self._http.aclose()

    def lease_from(self, now: dt.datetime) -> dt.datetime:
        """Until when an alert this process is about to send is its own."""
        return now + dt.timedelta(seconds=self._settings.alert_lease_seconds)

    def send_soon(self, due: list[store.Due]) -> None:
        """Send alerts leased to this process, from the event loop (called from any thread)."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop: the lease runs out
                self._loop.call_soon_threadsafe(self._send, due)

    def _send(self, due: list[store.Due]) -> None:
        task = asyncio.create_task(self._deliver_all(due))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _deliver_all(self, due: list[store.Due]) -> None:
        await asyncio.gather(*(self._deliver(one) for one in due))

    async def _run(self) -> None:
        while True:
            try:
                due = await asyncio.to_thread(self._claim)
                await self._deliver_all(due)
                await self._refresh_ageing()
            except Exception:  # a storage fault: logged, and tried again at the next tick
                log.exception("alert delivery")
                due = []
            if len(due) < BATCH:  # what this process fires is handed over, not looked for
                await asyncio.sleep(self._settings.alert_poll_seconds)

    def _claim(self) -> list[store.Due]:
        with self._sessions() as session:
            ids = store.due_ids(session.connection(), _now(), BATCH)
            if not ids:  # the usual answer: one indexed read, no write lock
                return []
            session.rollback()
            begin_writing(session)
            now = _now()
            claimed = store.claim(session, ids, now, self.lease_from(now))
            session.commit()
            return claimed

    async def _deliver(self, due: store.Due) -> None:
        payload = json.loads(due.payload)
        payload["link"] = urljoin(self._public_url, payload["link"])
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "escalation-forecast",
            "Idempotency-Key": due.idempotency_key,
            "X-Escalation-Timestamp": timestamp,
            "X-Escalation-Signature": signature(due.secret, timestamp, body),
        }
        status, error = None, None
        try:  # streamed and never read: a receiver's answer costs no memory
            async with self._http.stream("POST", due.url, content=body, headers=headers) as answer:
                status = answer.status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR]
        if status is not None and not 200 <= status < 300:
            error = f"the receiver answered HTTP {status}"
        await asyncio.to_thread(self._settle, due, store.Attempt(_now(), status, error))

    def _settle(self, due: store.Due, attempt: store.Attempt) -> None:
        attempts = due.attempts + 1
        retry_at = None
        if attempts < self._settings.alert_attempts:
            wait = backoff(attempts, self._settings.alert_retry_seconds)
            retry_at = attempt.at + dt.timedelta(seconds=wait)
        if not attempt.delivered:
            log.warning("alert %s not delivered (attempt %d): %s", due.id, attempts, attempt.error)
        with self._sessions() as session:
            begin_writing(session)
            store.settle(session, due, attempt, retry_at)
            session.commit()

    async def _refresh_ageing(self) -> None:
        if self._refresh is None:
            return
        if time.monotonic() - self._refreshed < self._settings.alert_ageing_seconds:
            return
        self._refreshed = time.monotonic()
        watched = await asyncio.to_thread(self._ageing_cases)
        for case_id in watched:  # each a primary-key read, unless its day has turned
            await self._refresh(case_id)

    def _ageing_cases(self) -> list[str]:
        with self._sessions() as session:
            return store.ageing_cases(session)


@functools.cache
def _tls() -> ssl.SSLContext:
    """The TLS settings of deliveries (httpx's own, certifi's CA bundle), made once per
    process: making them costs 23 ms, three quarters of making a client."""
    return httpx.create_ssl_context()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
