"""Prometheus metrics: requests per route (counts, latencies) and, read from the store for each
scrape (off the event loop, `CaseGauges`), each case's outcome probabilities, report count and
last report time, and the model's age.

Request metrics are per process (with `--workers 2`, each worker counts its own requests);
the case and model gauges are read from the store, so every process reports the same values.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.utils import floatToGoString
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.store.tables import CaseRow, LiveForecastRow, ReportRow

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class RequestMetrics:
    """ASGI middleware: counts each request by method, route template (bounded: never the raw
    path) and status, and times it to its first byte (an event stream's latency is how soon it
    starts, not how long the page stays open)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "escalation_http_requests",
            "HTTP requests, by method, route and status.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "escalation_http_request_duration_seconds",
            "Time to the response's first byte, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app fails before answering
        first_byte = 0.0

        async def timed_send(message: Message) -> None:
            nonlocal status, first_byte
            if message["type"] == "http.response.start":
                status, first_byte = message["status"], time.perf_counter()
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self._record(
                scope["method"],
                _route(scope),
                status,
                (first_byte or time.perf_counter()) - started,
            )

    def _record(self, method: str, route: str, status: int, seconds: float) -> None:
        # Children are looked up once per label set: every request passes here, and `labels()`
        # costs twice the updates themselves (measured: 4.3 µs a request uncached, 1.5 cached).
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        children[0].inc()
        children[1].observe(seconds)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


SCRAPE_WAIT_SECONDS = 1.0
"""How long a scrape waits for the case gauges it set building; past that (tens of thousands of
cases) it serves the ones built for the scrape before."""


class CaseGauges:
    """The per-case gauges' text, built off the event loop from two queries (every case's stored
    outcome means, and its counted reports and last report time), one build at a time.

    A scrape sets a build going and waits for it up to `SCRAPE_WAIT_SECONDS`, then serves the
    last one built: the event loop's share of a scrape is the same however many cases there
    are, and a slow build answers the next scrape. The means are the live forecasts as last
    stored (a case nobody has read since its day turned shows yesterday's)."""

    def __init__(self, sessions: Callable[[], Session], wait: float = SCRAPE_WAIT_SECONDS) -> None:
        self._sessions = sessions
        self._wait = wait
        self._text: bytes | None = None
        self._building: asyncio.Task[bytes] | None = None

    async def text(self, artifact_id: str | None) -> bytes:
        """The gauges' text, the means those of `artifact_id`'s forecasts (None: none)."""
        building = self._building
        if building is None:
            building = asyncio.create_task(asyncio.to_thread(self._build, artifact_id))
            building.add_done_callback(self._built)
            self._building = building
        if self._text is None:  # the first scrape has nothing else to serve
            return await asyncio.shield(building)
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(building), self._wait)
        return self._text

    def _build(self, artifact_id: str | None) -> bytes:
        with self._sessions() as session:
            counts = case_counts(session)
            means = {} if artifact_id is None else stored_means(session, artifact_id)
        return _case_gauges(counts, means)

    def _built(self, task: asyncio.Task[bytes]) -> None:
        self._building = None
        if task.cancelled():
            return
        if (error := task.exception()) is not None:  # a waiting scrape answers with it too
            log.warning("the case gauges could not be built: %s", error)
            return
        self._text = task.result()


def case_counts(session: Session) -> dict[str, tuple[int, dt.datetime | None]]:
    """Per case: reports that count (not retracted), and when the last report was received."""
    counted = func.count(ReportRow.id).filter(ReportRow.retracted_at.is_(None))
    query = (
        select(CaseRow.id, counted, func.max(ReportRow.received_at))
        .outerjoin(ReportRow, ReportRow.case_id == CaseRow.id)
        .group_by(CaseRow.id)
    )
    return {case_id: (count, last) for case_id, count, last in session.execute(query)}


def stored_means(session: Session, artifact_id: str) -> dict[str, dict[str, float]]:
    """Per case with a live forecast from this model, its outcome means."""
    query = select(LiveForecastRow.case_id, LiveForecastRow.means).where(
        LiveForecastRow.artifact_id == artifact_id
    )
    return dict(session.execute(query).all())


def exposition(
    registry: CollectorRegistry,
    case_gauges: bytes,
    artifact_id: str | None,
    fitted_at: dt.datetime | None,
) -> bytes:
    """The text format: the request metrics, the case gauges and the model's age."""
    model = b""
    if artifact_id is not None and fitted_at is not None:
        age = (dt.datetime.now(dt.UTC) - fitted_at).total_seconds()
        model = _gauges([(_MODEL_AGE, [(f'artifact_id="{_label(artifact_id)}"', age)])])
    return generate_latest(registry) + case_gauges + model


_PROBABILITY = (
    "escalation_outcome_probability",
    "The current forecast's probability of each outcome, per case.",
)
_REPORTS = ("escalation_case_reports", "Reports that count (not retracted), per case.")
_LAST_REPORT = (
    "escalation_case_last_report_timestamp_seconds",
    "When the case's last report was received (Unix time).",
)
_MODEL_AGE = ("escalation_model_age_seconds", "Seconds since the served model artifact was fitted.")

type Samples = list[tuple[str, float]]
"""A gauge's samples: each one's labels, as the text format writes them, and its value."""


def _case_gauges(
    counts: dict[str, tuple[int, dt.datetime | None]], means: dict[str, dict[str, float]]
) -> bytes:
    """The per-case gauges in the text format (`_gauges`: prometheus_client's families cost
    about 20 µs a sample, a second a build at 10,000 cases; a line written here costs 1)."""
    probability: Samples = []
    reports: Samples = []
    last: Samples = []
    for case_id, (count, last_report_at) in counts.items():
        case = f'case_id="{_label(case_id)}"'
        probability += [(f'{case},outcome="{o}"', m) for o, m in means.get(case_id, {}).items()]
        reports.append((case, count))
        if last_report_at is not None:
            last.append((case, last_report_at.timestamp()))
    return _gauges([(_PROBABILITY, probability), (_REPORTS, reports), (_LAST_REPORT, last)])


def _gauges(families: list[tuple[tuple[str, str], Samples]]) -> bytes:
    """Gauge families in the text format, each its name, its help and its samples."""
    lines = []
    for (name, text), samples in families:
        lines += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
        lines += [f"{name}{{{labels}}} {_value(value)}" for labels, value in samples]
    return ("\n".join(lines) + "\n").encode()


def _value(number: float) -> str:
    """A sample's value as prometheus_client writes it (Go's float format)."""
    return str(floatToGoString(number))  # type: ignore[no-untyped-call]  # untyped upstream


def _label(value: str) -> str:
    """A label value escaped as the text format wants (a case id has nothing to escape)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
