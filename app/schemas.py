"""Request and response bodies (pydantic 2). Unknown fields are refused."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    computed_field,
    model_validator,
)

from models.catalog import OUTCOMES, Kind, Outcome, OutcomeProbabilities
from models.contract import (
    CASE_ID,
    HORIZON_DAYS,
    KEY_NAME,
    MAX_NAME,
    MAX_REPORTS,
    MAX_SECRET,
    MAX_TITLE,
    MAX_URL,
    MIN_SECRET,
)
from models.fields import IsoDate, storable
from models.forecast import ForecastOut, OutcomeOut
from models.scenario import SCENARIO_LIMITS, Note, PostedReport, Source
from models.track_record import (
    CalibrationBin,
    CaseRecord,
    Estimate,
    Scored,
    Scores,
    ScoreSummary,
    TrackRecord,
)

# Lengths inside the string's constraints, before `storable`: then a too-long value is told
# "String should have at most 120 characters", not a vaguer "items after validation".
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NAME),
    AfterValidator(storable),
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE),
    AfterValidator(storable),
]


class PriorIn(BaseModel):
    """An analyst's outcome prior for a case, in place of its kind's population prior; null
    returns to the population prior."""

    model_config = ConfigDict(extra="forbid")

    outcome_prior: OutcomeProbabilities | None


class CaseIn(BaseModel):
    """A case to watch: the state that may enter the war, its target and (if any) its patron.
    `kind` is join_war when a patron presses the state to join its war, start_war when the
    state would act alone; it follows from the patron when left out. `outcome_prior` fixes the
    case's prior (an analyst's judgement) in place of the kind's population prior."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "belarus-ukraine-2022",
                    "title": "Will Belarus enter Russia's war in Ukraine?",
                    "state": "Belarus",
                    "target": "Ukraine",
                    "patron": "Russia",
                }
            ]
        },
    )

    id: Annotated[str, StringConstraints(pattern=CASE_ID)]
    title: Title
    state: Name
    target: Name
    patron: Name | None = None
    kind: Kind | None = None
    outcome_prior: OutcomeProbabilities | None = None
    horizon_days: Annotated[int, Field(gt=0, le=3650)] = HORIZON_DAYS
    opened_on: IsoDate | None = Field(
        None,
        description="Start of the period the case is about: reports may be observed as far "
        "back as this date (default: a year before the case is created).",
    )
    clock: IsoDate | None = Field(
        None,
        description="A historical case's date, its 'now': forecasts without as_of are as of "
        "it. Null (the default) for a live case, seen as of today.",
    )


class CaseOut(CaseIn):
    model_config = ConfigDict(from_attributes=True, json_schema_extra=None)  # not CaseIn's

    kind: Kind
    opened_on: dt.date
    created_at: dt.datetime
    created_by: str | None  # the key's name (None: created before keys had names)
    resolved_as: Outcome | None = None  # how it ended (GET .../resolution: the record)
    resolved_on: dt.date | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def status(self) -> Literal["live", "historical", "resolved"]:
        """live (seen as of today), historical (seen as of its clock) or resolved (its
        forecasts frozen at its resolution)."""
        if self.resolved_as is not None:
            return "resolved"
        return "live" if self.clock is None else "historical"


class ClockIn(BaseModel):
    """A case's clock: a date makes it historical, seen as of that date; null makes it live."""

    model_config = ConfigDict(extra="forbid")

    clock: IsoDate | None


class ReportIn(PostedReport):
    """A report as posted. A retried POST with the same idempotency key stores nothing twice;
    the key sent again with a different report is a conflict (409)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "indicator": "covert_mobilization",
                    "value": "present",
                    "observed_on": "2022-07-15",
                    "source": "Ukrainian military intelligence, via media",
                    "grade": "C",
                    "note": "reservists called up without announcement",
                    "known_at": "2022-07-16T09:00:00Z",
                    "idempotency_key": "feed-2022-07-15-001",
                }
            ]
        }
    )


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: str
    indicator: str
    value: float
    observed_on: dt.date
    source: str
    grade: str
    note: str
    known_at: dt.datetime
    received_at: dt.datetime
    retracted_at: dt.datetime | None
    idempotency_key: str | None
    entered_by: str | None  # the key's name (None: entered before keys had names)
    retracted_by: str | None


def reports_json(rows: Iterable[Any]) -> str:
    """Stored report rows as the API serves them: a JSON list of `ReportOut`."""
    return _REPORT_LIST.dump_json([ReportOut.model_validate(row) for row in rows]).decode()


_REPORT_LIST = TypeAdapter(list[ReportOut])


class PostedReports(BaseModel):
    reports: list[ReportOut]
    forecast: ForecastOut


class HistoryPoint(BaseModel):
    """One point of a case's forecast history."""

    recorded_at: dt.datetime
    as_of: dt.date
    artifact_id: str
    evidence_hash: str
    reports_used: int
    probabilities: list[OutcomeOut]


class WhatIfIn(BaseModel):
    """Hypothetical reports to add to the live ones, or a scenario file's content (YAML) to run
    instead of them, exactly as `forecast run` would. Nothing is stored."""

    model_config = ConfigDict(extra="forbid")

    reports: Annotated[list[ReportIn], Field(max_length=MAX_REPORTS)] = []
    scenario: (
        Annotated[str, StringConstraints(min_length=1, max_length=SCENARIO_LIMITS.max_chars)] | None
    ) = None


class ErrorItem(BaseModel):
    """One thing wrong with a request."""

    # Where: ["body", 0, "observed_on"]; for a place in a YAML text, its line and key path
    # (["body", "scenario", "line 12", "reports[0].grade"]).
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error the service answers, whatever its status."""

    detail: list[ErrorItem]


class Readiness(BaseModel):
    """Whether the service can serve: the model loaded, the database answering and writable."""

    status: Literal["ready", "not ready"]
    artifact_id: str | None = None
    reason: str | None = None


class ReportMarker(BaseModel):
    """A report on a timeline: when it was seen, known and (if so) retracted."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    indicator: str
    value: float
    observed_on: dt.date
    known_at: dt.datetime
    retracted_at: dt.datetime | None
    source: str
    grade: str


class TimelinePoint(BaseModel):
    """The forecast replayed as of one date, from the reports known then."""

    as_of: dt.date
    evidence_hash: str
    reports_used: int
    reports_left_out: int
    probabilities: list[OutcomeOut]


class TimelineOut(BaseModel):
    """A case's forecast at each date of a period, in the case's own time, with its reports as
    markers (the reports known by the period's end)."""

    case_id: str
    artifact_id: str
    start: dt.date
    end: dt.date
    step_days: int
    points: list[TimelinePoint]
    reports: list[ReportMarker]


class ChangePart(BaseModel):
    """One part of a change: a report added (known in the period) or retracted, the ageing of
    the reports that stood at both dates, or a model change; and how far it moved each
    outcome (probability, -1 to 1)."""

    kind: Literal["model", "retracted", "ageing", "added"]
    report: ReportMarker | None
    change: dict[str, float]


class Headline(BaseModel):
    """The outcome that moved most, by how much, and the part that moved it most that way."""

    outcome: str
    change: float
    mostly: int | None  # index in `parts`


class ChangesOut(BaseModel):
    """What moved the forecast from `start` to `end`: the parts sum to `total` exactly (to
    float precision). Path: the model (when another served the start), retractions, ageing,
    additions in the order they became known; each part is its step's change given the steps
    before it."""

    case_id: str
    artifact_id: str
    start_artifact_id: str  # the model the start is replayed with: the one that served it
    start: dt.date
    end: dt.date
    start_forecast: list[OutcomeOut]
    end_forecast: list[OutcomeOut]
    total: dict[str, float]
    parts: list[ChangePart]
    headline: Headline
    notes: list[str] = []


class KeyIn(BaseModel):
    """A named key to make: a reader reads, an analyst also enters reports and cases, an admin
    also manages keys and reads the audit log."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(pattern=KEY_NAME)]
    role: Literal["reader", "analyst", "admin"]


class KeyOut(BaseModel):
    """A key as listed: never its secret, which is shown once, when it is made."""

    model_config = ConfigDict(from_attributes=True)

    name: str
    role: str
    created_at: dt.datetime
    created_by: str | None
    revoked_at: dt.datetime | None


class NewKeyOut(KeyOut):
    secret: str  # shown this once: only its hash is stored


class AuditEntryOut(BaseModel):
    """One write: who (the key's name), when, what."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    actor: str
    action: str
    case_id: str | None
    detail: dict[str, object]


def _webhook_url(value: str) -> str:
    """An http(s) URL with a host and no credentials (a delivery is authenticated by its
    signature; a password in the URL would be stored and logged as the URL is)."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("a webhook URL is http:// or https:// and names a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("no credentials in the URL: check the delivery's signature instead")
    return value


WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_URL),
    AfterValidator(storable),
    AfterValidator(_webhook_url),
]
Direction = Literal["up", "down"]


class AlertIn(BaseModel):
    """A webhook subscribed to a crossing: it fires when the outcome's probability crosses
    `threshold` (rising to it for `up`, falling to it for `down`) and re-arms only once the
    probability is back past `threshold` by `band`, so a forecast hovering at the threshold
    fires once. Only a write that adds or retracts at least `min_reports` reports fires it;
    0 also fires on ageing, a new prior, a moved clock or a new model."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": "https://alerts.example.org/escalation",
                    "outcome": "direct_invasion",
                    "threshold": 0.3,
                    "direction": "up",
                    "band": 0.05,
                }
            ]
        },
    )

    url: WebhookUrl
    outcome: Outcome
    threshold: Annotated[float, Field(gt=0, lt=1)]
    direction: Direction = "up"
    band: Annotated[float, Field(ge=0, lt=1)] = 0.05
    min_reports: Annotated[int, Field(ge=0, le=MAX_REPORTS)] = 1
    secret: (
        Annotated[
            str,
            StringConstraints(min_length=MIN_SECRET, max_length=MAX_SECRET, pattern=r"^[!-~]+$"),
        ]
        | None
    ) = Field(
        None,
        description="Signs each delivery (HMAC-SHA256); one is made when left out. Printable "
        f"ASCII without spaces, {MIN_SECRET} to {MAX_SECRET} characters.",
    )

    @model_validator(mode="after")
    def _room_to_rearm(self) -> AlertIn:
        rearm = self.threshold - self.band if self.direction == "up" else self.threshold + self.band
        if not 0 < rearm < 1:
            raise ValueError(
                f"band: {self.band} leaves no room to re-arm: the rule re-arms at "
                f"threshold {'-' if self.direction == 'up' else '+'} band = {rearm:g}, "
                "which must lie strictly between 0 and 1"
            )
        return self


class DeliveryState(BaseModel):
    """Where one delivery stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    idempotency_key: str  # sent as the Idempotency-Key header: the same on every retry
    created_at: dt.datetime
    state: Literal["pending", "delivered", "abandoned", "cancelled"]
    attempts: int
    next_attempt_at: dt.datetime
    last_attempt_at: dt.datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: dt.datetime | None


class DeliveryOut(DeliveryState):
    """One delivery of the log, with what it sends."""

    payload: dict[str, object]


class AlertOut(BaseModel):
    """A rule as listed: where it delivers (the receiver's origin only: a webhook's path often
    holds a token), its state and its last firing."""

    id: int
    case_id: str
    outcome: str
    direction: Direction
    threshold: float
    band: float
    min_reports: int
    receiver: str
    armed: bool  # fires at the next crossing; else waiting to come back past the band
    created_at: dt.datetime
    created_by: str
    last_fired_at: dt.datetime | None
    deleted_at: dt.datetime | None
    deleted_by: str | None
    last_delivery: DeliveryState | None


class NewAlertOut(AlertOut):
    """A rule just made: its full URL, and its secret, shown this once."""

    url: str
    secret: str


class ResolutionIn(BaseModel):
    """How a case ended: the outcome (by the codebook's resolution rule), the day it came
    (for no_entry, the day the question closed), the source that shows it, and how sure the
    resolution is (1: beyond doubt; as the reference set's label_confidence)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcome": "no_entry",
                    "resolved_on": "2022-10-17",
                    "source": "No Belarusian unit crossed into Ukraine in the horizon (ISW)",
                }
            ]
        },
    )

    outcome: Outcome
    resolved_on: IsoDate
    source: Source
    note: Note = ""
    label_confidence: Annotated[float, Field(gt=1 / 3, le=1)] = 1.0


class ResolutionOut(BaseModel):
    """One entry of a case's resolution record."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    case_id: str
    action: Literal["resolve", "correct", "withdraw"]
    outcome: Outcome | None
    resolved_on: dt.date | None
    source: str | None
    note: str
    label_confidence: float | None
    recorded_at: dt.datetime
    recorded_by: str


class ResolutionRecordOut(BaseModel):
    """A case's resolution as it stands (null while open), and every entry of its record."""

    case_id: str
    resolution: ResolutionOut | None
    record: list[ResolutionOut]
    # While resolved: the case coded as a candidate reference case, and its scores.
    reference_case: str | None = None
    score: str | None = None


class DailyForecast(BaseModel):
    """The forecast in force on one scored day."""

    as_of: dt.date
    probabilities: dict[str, float]


class CaseScoreOut(BaseModel):
    """How well a resolved case was forecast (lower is better for every score)."""

    artifact_id: str
    case_id: str
    outcome: str
    resolved_on: dt.date
    days_scored: int
    time_averaged: Scores
    at_lead: dict[int, Scores | None]  # days before the outcome; null: not open yet
    base_rate: dict[str, float]
    daily: list[DailyForecast]
    # The models that served the scored days (days each): every day is replayed with its own.
    models: dict[str, int]
    notes: list[str]  # days that could not be replayed with the model that served them

    @classmethod
    def of(cls, artifact_id: str, record: CaseRecord, scored: Scored) -> CaseScoreOut:
        case = scored.case
        return cls(
            artifact_id=artifact_id,
            case_id=record.case_id,
            outcome=record.outcome,
            resolved_on=record.resolved_on,
            days_scored=record.days_scored,
            time_averaged=record.time_averaged,
            at_lead=record.at_lead,
            base_rate=dict(zip(OUTCOMES, map(float, case.base_rate), strict=True)),
            daily=[
                DailyForecast(
                    as_of=day, probabilities=dict(zip(OUTCOMES, map(float, row), strict=True))
                )
                for day, row in zip(case.days, case.forecasts, strict=True)
            ],
            models=scored.models,
            notes=scored.notes,
        )


class TrackRecordOut(BaseModel):
    """Every resolved case scored, and the aggregates over them (`GET /v1/track-record`)."""

    artifact_id: str
    cases: int
    time_averaged: dict[str, ScoreSummary]
    at_lead: dict[int, dict[str, ScoreSummary]]
    calibration: list[CalibrationBin]
    auc: dict[str, Estimate | None]
    records: list[CaseRecord]

    @classmethod
    def of(cls, artifact_id: str, record: TrackRecord) -> TrackRecordOut:
        return cls(artifact_id=artifact_id, **vars(record))


class ModelInfo(BaseModel):
    """The served artifact: how it was fitted and checked, the priors it starts from, the
    likelihoods it learnt, and its out-of-sample skill with the uncertainty of every figure."""

    artifact_id: str
    fitted_at: str
    reference_cases: int
    sampler: dict[str, Any]
    diagnostics: dict[str, Any]
    versions: dict[str, str]
    elicitation_scale: dict[str, float]
    priors: dict[str, dict[str, Any]]
    likelihoods: dict[str, dict[str, dict[str, float]]]
    skill: dict[str, Any]
    evaluation: dict[str, Any]


class OutcomeLabel(BaseModel):
    id: str
    label: str


class ThresholdsOut(BaseModel):
    """Where a forecast stops being trusted as it stands."""

    reliable_pareto_k: float = Field(
        description="Above this Pareto k the reweighting of the draws is unreliable: the case "
        "is unlike the reference cases."
    )
    surprise_z: float = Field(
        description="Below this z-score under every outcome the reports are surprising."
    )


class ContractOut(BaseModel):
    """The values clients are held to and forecasts are judged by, as the service applies
    them: the outcomes and their labels, the longest value of each text field, the most reports
    one request may carry, the items of a list's page (unless asked, and at most), a new
    case's horizon, and the thresholds of a doubtful forecast."""

    outcomes: list[OutcomeLabel]
    max_lengths: dict[str, int]
    max_reports: int
    page_items: dict[Literal["default", "max"], int]
    horizon_days: int
    thresholds: ThresholdsOut
