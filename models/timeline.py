"""A case over time: which reports count on a date, the forecast at every date of a period, and
what moved the forecast between two dates, decomposed exactly.

Reports are bitemporal: `observed_on` ages a report, `known_at` says from when it counts, and
`retracted_at` (if any) until when. The forecast as of a day uses exactly the reports known by the
end of that day and not yet retracted, aged to that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from models.catalog import Catalog
from models.engine import NO_OVERRIDES, Engine
from models.evidence import (
    ReportLike,
    ReportTable,
    as_report,
    check_report,
    evidence_from_logs,
)
from models.forecast import Forecast, Prior
from models.scenario import Overrides

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_NEVER = np.iinfo(np.int64).max
_DAY_MICROSECONDS = 86_400_000_000


class StoredReport(ReportLike, Protocol):
    """A report with its two times and, if it was withdrawn, when."""

    @property
    def known_at(self) -> dt.datetime: ...
    @property
    def retracted_at(self) -> dt.datetime | None: ...


def end_of(day: dt.date) -> dt.datetime:
    """The first moment after `day` (UTC): what is known before then is known on `day`."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)


def counts_on(report: StoredReport, day: dt.date) -> bool:
    """Whether a report counts on `day`: observed and known by the end of that day, and not
    retracted by then."""
    end = end_of(day)
    retracted_at = report.retracted_at
    return (
        report.observed_on <= day
        and report.known_at < end
        and (retracted_at is None or retracted_at >= end)
    )


def known_later(report: StoredReport, day: dt.date) -> bool:
    """Whether a report, not retracted, became known only after `day`: a replay of that day
    leaves it out, and says so."""
    return report.known_at >= end_of(day) and report.retracted_at is None


def outside_period(day: dt.date, opened_on: dt.date) -> str | None:
    """Why `day` is outside a case's period, which opens on `opened_on`; None if it is not."""
    if day >= opened_on:
        return None
    return f"{day} is before the case's period, which opens on {opened_on}"


def _microseconds(moment: dt.datetime | None) -> int:
    return _NEVER if moment is None else (moment - _EPOCH) // _MICROSECOND


class CaseReports:
    """A case's stored reports, checked once, as of any day: which count then, and their
    evidence aged to then. `counted(day)` agrees with `counts_on` report by report."""

    def __init__(self, catalog: Catalog, reports: Sequence[StoredReport]) -> None:
        domain = [as_report(report) for report in reports]
        for number, report in enumerate(domain):
            check_report(catalog, report, report.observed_on, f"reports[{number}]")
        self.reports = reports
        self.table = ReportTable.of(catalog, domain)
        self._known = np.array([_microseconds(r.known_at) for r in reports], dtype=np.int64)
        self._retracted = np.array([_microseconds(r.retracted_at) for r in reports], dtype=np.int64)
        observed_at = (self.table.observed - _EPOCH.toordinal()) * _DAY_MICROSECONDS
        self._counts_from = np.maximum(self._known, observed_at)  # once observed and known
        self._standing_known = np.sort(self._known[self._retracted == _NEVER])

    def counted(self, day: dt.date) -> np.ndarray:
        """Mask of the reports that count on `day`."""
        end = _microseconds(end_of(day))
        return np.asarray((self._counts_from < end) & (self._retracted >= end))

    def left_out(self, day: dt.date) -> int:
        """How many reports are `known_later` than `day`."""
        end = _microseconds(end_of(day))
        standing = self._standing_known
        return int(standing.size - np.searchsorted(standing, end, side="left"))

    def sweep(self, days: Sequence[dt.date], weights: Sequence[int]) -> Iterator[tuple[int, int]]:
        """For each of `days`, in ascending order: the sum of the weights of the reports that
        count that day, and how many they are. One pass over the reports' start and stop
        events, however many days: what a long timeline needs for every day it does not
        compute afresh."""
        start, stop = self._counts_from, self._retracted
        events: list[tuple[int, int, int]] = []
        for n, weight in enumerate(weights):
            if stop[n] > start[n]:  # else withdrawn before it ever counted
                events.append((int(start[n]), weight, 1))
                if stop[n] != _NEVER:
                    events.append((int(stop[n]), -weight, -1))
        events.sort(key=lambda event: event[0])
        total = count = position = 0
        for day in days:
            end = _microseconds(end_of(day))
            while position < len(events) and events[position][0] < end:
                _, weight, step = events[position]
                total, count, position = total + weight, count + step, position + 1
            yield total, count

    def forecast(self, engine: Engine, day: dt.date, prior: Prior, explain: bool) -> Forecast:
        """The forecast as of `day` from the reports that count then."""
        present, absent = self.table.log_likelihoods(day, self.counted(day))
        return engine.forecast(evidence_from_logs(present, absent), prior, explain=explain)


@dataclass(frozen=True)
class Side:
    """One end of a comparison: the reports that stand, their date, the prior and the model
    (an engine, and a scenario's overrides of its likelihoods or prior)."""

    engine: Engine
    reports: Sequence[ReportLike]
    as_of: dt.date
    prior: Prior
    overrides: Overrides = NO_OVERRIDES

    def same_model(self, other: Side) -> bool:
        return (self.engine.artifact.id, self.prior, self.overrides) == (
            other.engine.artifact.id,
            other.prior,
            other.overrides,
        )


@dataclass(frozen=True)
class Part:
    """One step of a decomposition: its kind (model, a report removed, ageing, a report added),
    the report's index in its side's list (None for model and ageing) and the change of each
    outcome's probability it made (outcome order)."""

    kind: str
    index: int | None
    change: np.ndarray


@dataclass(frozen=True)
class Changes:
    """The forecasts at two ends and the parts that take one to the other; the parts sum to
    `end - start` (to float precision: the path telescopes)."""

    start: np.ndarray
    end: np.ndarray
    parts: tuple[Part, ...] = field(default=())

    @property
    def total(self) -> np.ndarray:
        return np.asarray(self.end - self.start)


def decompose(
    start: Side,
    end: Side,
    removed: Sequence[int],
    added: Sequence[int],
    removed_kind: str = "retracted",
) -> Changes:
    """What moved the forecast from `start` to `end`, exactly, along one path: the model first
    (the end's model on the start's evidence), then each report of `start.reports` at the
    `removed` indices taken out in turn, then the ageing of the reports standing at both ends
    from the start's date to the end's, then each report of `end.reports` at the `added`
    indices put in, in the order given (for a case, the order they became known). Each part is
    the change its step made given the steps before it. The reports not removed must be the
    reports not added (the caller matches them)."""
    catalog = end.engine.catalog
    gone = set(removed)
    common = ReportTable.of(catalog, [r for i, r in enumerate(start.reports) if i not in gone])

    def means(side: Side, logs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        evidence = evidence_from_logs(*logs)
        return side.engine.forecast(evidence, side.prior, side.overrides, explain=False).means()

    def report_logs(report: ReportLike, day: dt.date) -> tuple[np.ndarray, np.ndarray]:
        return ReportTable.of(catalog, [report]).log_likelihoods(day)

    removed_logs = [report_logs(start.reports[i], start.as_of) for i in removed]
    now = _sum(common.log_likelihoods(start.as_of), removed_logs)
    first = means(start, now)
    path = _Path(first)
    if not start.same_model(end):
        path.step("model", None, means(end, now))
    for i, logs in zip(removed, removed_logs, strict=True):
        now = _sum(now, [logs], sign=-1.0)
        path.step(removed_kind, i, means(end, now))
    if start.as_of != end.as_of and common.rows.size:  # else nothing ages: no part
        now = common.log_likelihoods(end.as_of)
        path.step("ageing", None, means(end, now))
    for i in added:
        now = _sum(now, [report_logs(end.reports[i], end.as_of)])
        path.step("added", i, means(end, now))
    return Changes(first, path.last, tuple(path.parts))


@dataclass
class _Path:
    """The forecasts along a decomposition's path, each step's part the difference."""

    last: np.ndarray
    parts: list[Part] = field(default_factory=list)

    def step(self, kind: str, index: int | None, means: np.ndarray) -> None:
        self.parts.append(Part(kind, index, means - self.last))
        self.last = means


def _sum(
    logs: tuple[np.ndarray, np.ndarray],
    more: Sequence[tuple[np.ndarray, np.ndarray]],
    sign: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Summed log-likelihoods with more reports' terms added (or, sign -1, taken out): exact,
    on the grid of `models.evidence.QUANTUM`, whatever the order."""
    present, absent = logs
    for more_present, more_absent in more:
        present, absent = present + sign * more_present, absent + sign * more_absent
    return present, absent


def by_content(
    start: Sequence[ReportLike], end: Sequence[ReportLike], key: Callable[[ReportLike], object]
) -> tuple[list[int], list[int]]:
    """Match two lists of reports by `key`, as multisets: (indices of `start` not in `end`,
    indices of `end` not in `start`), each in its list's order."""
    unmatched: dict[object, list[int]] = {}
    for i, report in enumerate(start):
        unmatched.setdefault(key(report), []).append(i)
    added = []
    for i, report in enumerate(end):
        waiting = unmatched.get(key(report))
        if waiting:
            waiting.pop(0)
        else:
            added.append(i)
    removed = sorted(i for indices in unmatched.values() for i in indices)
    return removed, added
