"""The tables. Schema changes go through a migration in `migrations/versions/`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from models.contract import (
    MAX_CASE_ID,
    MAX_IDEMPOTENCY_KEY,
    MAX_INDICATOR_ID,
    MAX_KEY_NAME,
    MAX_NAME,
    MAX_SECRET,
    MAX_SOURCE,
    MAX_TITLE,
    MAX_URL,
)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back timezone-aware (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        return None if value is None else value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if not isinstance(value, dt.datetime):
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    """A watched case: a state on the brink of joining a war."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(MAX_CASE_ID), primary_key=True)
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    state: Mapped[str] = mapped_column(String(MAX_NAME))
    target: Mapped[str] = mapped_column(String(MAX_NAME))
    patron: Mapped[str | None] = mapped_column(String(MAX_NAME))
    kind: Mapped[str] = mapped_column(String(16))  # join_war | start_war
    # An analyst's fixed outcome prior ({outcome: probability}), else the kind's population one.
    outcome_prior: Mapped[dict[str, float] | None] = mapped_column(JSON)
    horizon_days: Mapped[int]
    # The period the case is about begins here: reports may go back to it, no further.
    opened_on: Mapped[dt.date]
    # A historical case is seen as of this date (its "now"); a live case (None) as of today.
    clock: Mapped[dt.date | None]
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(MAX_KEY_NAME))  # the key's name
    # How it ended, as its record (`ResolutionRow`) stands: its forecasts hold at resolved_on.
    resolved_as: Mapped[str | None] = mapped_column(String(32))
    resolved_on: Mapped[dt.date | None]


class ReportRow(Base):
    """One dated, sourced, graded report on an indicator. Retracted reports stay (audit trail).

    Two times: `observed_on`, when the sign was seen (it ages the report), and `known_at`, when
    the evidence became available to the analyst (an as-of replay uses the reports known
    then). `received_at` is when the store wrote it; `retracted_at`, when it stopped counting."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("case_id", "idempotency_key"),
        Index("ix_reports_by_case", "case_id", "observed_on", "id"),  # the order listed in
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    indicator: Mapped[str] = mapped_column(String(MAX_INDICATOR_ID))
    value: Mapped[float] = mapped_column(Float)
    observed_on: Mapped[dt.date]
    source: Mapped[str] = mapped_column(String(MAX_SOURCE))
    grade: Mapped[str] = mapped_column(String(1))
    note: Mapped[str] = mapped_column(Text, default="")
    known_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    retracted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    idempotency_key: Mapped[str | None] = mapped_column(String(MAX_IDEMPOTENCY_KEY))
    # The names of the keys that entered and retracted it (None: written before keys had names).
    entered_by: Mapped[str | None] = mapped_column(String(MAX_KEY_NAME))
    retracted_by: Mapped[str | None] = mapped_column(String(MAX_KEY_NAME))


class ForecastRow(Base):
    """A point of a case's forecast history, recorded when its evidence or model changed."""

    __tablename__ = "forecasts"
    # Its latest point (every write) and its pages, read in id order within a case.
    __table_args__ = (Index("ix_forecasts_by_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    as_of: Mapped[dt.date]
    artifact_id: Mapped[str] = mapped_column(String(40))
    # sha256 of the reports used (without the date) and the prior: a new point when either changes
    reports_hash: Mapped[str] = mapped_column(String(64))
    point: Mapped[str] = mapped_column(Text)  # the HistoryPoint's JSON, as served


class _DayOfEvidence:
    """A case's evidence on one day, summed per indicator, and the forecast from it exactly as
    served (columns shared by the live forecast and the next day's, prepared ahead)."""

    evidence_on: Mapped[dt.date]
    catalog_sha256: Mapped[str] = mapped_column(String(64))
    reports_hash: Mapped[str] = mapped_column(String(64))
    reports_used: Mapped[int]
    reports_left_out: Mapped[int]  # stored but not yet known on evidence_on (historical cases)
    # indicator -> [log P(its reports | present), log P(its reports | absent)]
    log_likelihoods: Mapped[dict[str, list[float]]] = mapped_column(JSON)
    artifact_id: Mapped[str] = mapped_column(String(40))
    etag: Mapped[str] = mapped_column(String(100))
    payload: Mapped[str] = mapped_column(Text)  # the ForecastOut's JSON, byte for byte as served
    means: Mapped[dict[str, float]] = mapped_column(JSON)  # outcome -> its mean (for /metrics)


class LiveForecastRow(_DayOfEvidence, Base):
    """A case's evidence and forecast on its now, kept up to date as reports arrive or are
    retracted: what polling reads.

    Derived from the reports and rebuilt from them whenever missing or stale (a new day ages
    every report; a new catalog changes their terms), so it can be dropped at any time."""

    __tablename__ = "live_forecasts"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    # A historical case's row holds for its clock whatever the date; a live case's, for one day.
    pinned: Mapped[bool]


class NextForecastRow(_DayOfEvidence, Base):
    """A live case's evidence and forecast for the day after its live row's, prepared in the
    last hours of a UTC day (`app.day_ahead`) so that midnight rebuilds nothing.

    It holds while the live row it was prepared from is unchanged (`basis`, that row's ETag):
    any write since makes it stale. Derived, like the live row."""

    __tablename__ = "next_forecasts"

    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    basis: Mapped[str] = mapped_column(String(100))


class ApiKeyRow(Base):
    """A named API key and its role. Only the sha256 of its secret is stored."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(MAX_KEY_NAME), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))  # reader | analyst | admin
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str | None] = mapped_column(String(MAX_KEY_NAME))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class AuditRow(Base):
    """One write: who (the key's name), when, what. Appended, never updated or deleted."""

    __tablename__ = "audit_log"
    # What a case's writes changed since an entry: its entries in the order written.
    __table_args__ = (Index("ix_audit_log_by_case", "case_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(MAX_KEY_NAME))
    action: Mapped[str] = mapped_column(String(40))
    case_id: Mapped[str | None] = mapped_column(String(MAX_CASE_ID))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class AlertRuleRow(Base):
    """A webhook subscribed to one outcome's crossing of a threshold, with hysteresis.

    `armed` is the rule's state: it fires when armed and the forecast crosses `threshold` in
    its `direction`, and is re-armed once the forecast is back past the threshold by `band`.
    Its secret signs each delivery (HMAC), so it is kept as given, unlike a key's."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(8))  # up | down
    threshold: Mapped[float] = mapped_column(Float)
    band: Mapped[float] = mapped_column(Float)
    # The reports a write must add or retract for its crossing to fire (0: ageing, the prior,
    # the clock or a new model fire too).
    min_reports: Mapped[int]
    url: Mapped[str] = mapped_column(String(MAX_URL))
    secret: Mapped[str] = mapped_column(String(MAX_SECRET))
    armed: Mapped[bool]
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(MAX_KEY_NAME))
    last_fired_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    deleted_by: Mapped[str | None] = mapped_column(String(MAX_KEY_NAME))


class AlertDeliveryRow(Base):
    """One alert to deliver (the outbox): written in the transaction whose forecast crossed
    the rule, so a crash after the commit loses nothing; delivered at least once, retried with
    backoff. Its rows are the rule's delivery log."""

    __tablename__ = "alert_deliveries"
    # What every process asks twice a second: the pending deliveries that are due.
    __table_args__ = (Index("ix_alert_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    payload: Mapped[str] = mapped_column(Text)  # the JSON sent, but for its absolute link
    state: Mapped[str] = mapped_column(String(16))  # pending | delivered | abandoned | cancelled
    attempts: Mapped[int]
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # While a process is delivering it, no other takes it (until then, should that one die).
    lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_status: Mapped[int | None]  # the receiver's HTTP status
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class ResolutionRow(Base):
    """One entry of a case's resolution record: resolved, corrected (a later entry replaces an
    earlier one) or withdrawn. Appended, never updated or deleted."""

    __tablename__ = "resolutions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # resolve | correct | withdraw
    outcome: Mapped[str | None] = mapped_column(String(32))
    resolved_on: Mapped[dt.date | None]
    source: Mapped[str | None] = mapped_column(String(MAX_SOURCE))
    note: Mapped[str] = mapped_column(Text, default="")
    label_confidence: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    recorded_by: Mapped[str] = mapped_column(String(MAX_KEY_NAME))
