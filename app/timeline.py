"""A case in its own time, as the API serves it (`models.timeline`): the forecast at each date of
a period, replayed from the reports known then, and what moved it between two dates.

Both are functions of the stored reports, the case's prior and the model, so every worker and
replica answers the same. A timeline's points are cached by what each depends on (the model and
the evidence hash: the reports counted that day, the day, the prior; with no report, the prior
alone): a new report re-computes only the points from the day it became known, and a dashboard
re-reading a year of points costs a read of the reports and a look-up per point.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Sequence
from itertools import compress
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Row

from app.schemas import (
    ChangePart,
    ChangesOut,
    Headline,
    ReportMarker,
    TimelineOut,
    TimelinePoint,
)
from app.store.cases import CaseHead
from models.artifact import load_archived
from models.catalog import OUTCOMES
from models.engine import Engine
from models.errors import ArtifactError, EvidenceError
from models.forecast import Forecast, OutcomeOut
from models.provenance import digests_hash, evidence_hash, prior_key, report_digest
from models.timeline import CaseReports, Side, decompose, end_of
from models.words import icd203

MAX_POINTS = 1000
"""Most points one timeline may have (a daily timeline of almost three years)."""
MAX_CHANGED_REPORTS = 500
"""Most reports added or retracted between the two dates of one decomposition."""
CACHED_POINTS = 50_000


type Bounds = tuple[tuple[float, float, float], ...]
"""Each outcome's (mean, lower, upper): a point as cached, about 300 bytes (as pydantic
objects, ten times that)."""


class PointCache:
    """Timeline points by (model, evidence hash), least recently used dropped past `size`
    (50,000: some 15 MB). Shared by the threads that compute timelines."""

    def __init__(self, size: int = CACHED_POINTS) -> None:
        self._size = size
        self._points: OrderedDict[tuple[str, str], Bounds] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> Bounds | None:
        with self._lock:
            point = self._points.get(key)
            if point is not None:
                self._points.move_to_end(key)
            return point

    def put(self, key: tuple[str, str], point: Bounds) -> None:
        with self._lock:
            self._points[key] = point
            while len(self._points) > self._size:
                self._points.popitem(last=False)


def dates(start: dt.date, end: dt.date, step_days: int) -> list[dt.date]:
    """The timeline's dates, `start` to `end` every `step_days`, `end` always included
    (EvidenceError naming the query parameter for an empty or too long timeline)."""
    if start > end:
        raise EvidenceError("query.from", f"{start} is after to ({end})")
    count = (end - start).days // step_days + 1
    if count > MAX_POINTS:
        reason = f"{count} points; at most {MAX_POINTS}: a shorter period or a longer step"
        raise EvidenceError("query.step", reason)
    days = [start + dt.timedelta(days=i * step_days) for i in range(count)]
    return days if days[-1] == end else [*days, end]


def timeline(
    engine: Engine,
    case: CaseHead,
    rows: Sequence[Row[Any]],
    days: Sequence[dt.date],
    cache: PointCache,
) -> TimelineOut:
    """The case's forecast (means and intervals) as of each of `days`, from the reports that
    count on each, and the reports known by the last day as markers."""
    reports = CaseReports(engine.catalog, rows)
    digests = [report_digest(row) for row in rows]
    points = []
    for day, (digest_sum, used) in zip(days, reports.sweep(days, digests), strict=True):
        digest = evidence_hash(day, digests_hash([digest_sum]), case.prior)
        # With no report counted the day makes no difference (nothing ages): the prior's point.
        key = (engine.artifact.id, digest if used else f"prior:{prior_key(case.prior)}")
        bounds = cache.get(key)
        if bounds is None:
            bounds = _bounds(reports.forecast(engine, day, case.prior, explain=False))
            cache.put(key, bounds)
        points.append(
            TimelinePoint(
                as_of=day,
                evidence_hash=digest,
                reports_used=used,
                reports_left_out=reports.left_out(day),
                probabilities=_outcomes(bounds),
            )
        )
    end = end_of(days[-1])
    return TimelineOut(
        case_id=case.id,
        artifact_id=engine.artifact.id,
        start=days[0],
        end=days[-1],
        step_days=(days[1] - days[0]).days if len(days) > 1 else 1,
        points=points,
        reports=[ReportMarker.model_validate(row) for row in rows if row.known_at < end],
    )


class PastModels:
    """The models the service served before its current one, loaded from the artifact archive
    (`models.artifact.archived`) when a change is explained across a new fit; the last few
    kept in memory."""

    def __init__(self, artifact_path: Path, keep: int = 2) -> None:
        self._path = artifact_path
        self._keep = keep
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._lock = threading.Lock()

    def at_start(self, current: Engine, served_by: str | None) -> tuple[Engine, list[str]]:
        """The model to replay a change's start with: the one that served the case then (per
        the audit record), if the archive has it and it fits the catalog; else the current
        one, with a note saying why."""
        if served_by is None or served_by == current.artifact.id:
            return current, []
        try:
            return self._engine(current, served_by), []
        except ArtifactError as exc:
            note = (
                f"The model changed since then ({served_by} to {current.artifact.id}), but "
                f"{served_by} cannot be replayed ({exc}): both dates use {current.artifact.id}."
            )
            return current, [note]

    def _engine(self, current: Engine, artifact_id: str) -> Engine:
        with self._lock:
            engine = self._engines.get(artifact_id)
            if engine is None:
                artifact = load_archived(self._path, artifact_id, current.catalog)
                engine = Engine(current.catalog, artifact, artifact.predictor(current.catalog))
                self._engines[artifact_id] = engine
                while len(self._engines) > self._keep:
                    self._engines.popitem(last=False)
            self._engines.move_to_end(artifact_id)
            return engine


def changes(
    engine: Engine,
    case: CaseHead,
    rows: Sequence[Row[Any]],
    period: tuple[dt.date, dt.date],
    start_model: tuple[Engine, list[str]],
) -> ChangesOut:
    """What moved the case's forecast from the start of `period` to its end, decomposed
    exactly: the model, if the start was served by another (`PastModels.at_start`); each
    report retracted in between (in the order retracted); the ageing of the reports that
    counted on both dates; each report that became known in between (in the order known)."""
    start, end = period
    start_engine, notes = start_model
    if start > end:
        raise EvidenceError("query.from", f"{start} is after to ({end})")
    reports = CaseReports(engine.catalog, rows)
    before, after = reports.counted(start), reports.counted(end)
    start_rows = list(compress(rows, before))
    end_rows = list(compress(rows, after))
    dropped = {row.id for row in start_rows} - {row.id for row in end_rows}
    new = {row.id for row in end_rows} - {row.id for row in start_rows}
    removed = sorted(
        (n for n, row in enumerate(start_rows) if row.id in dropped),
        key=lambda n: (start_rows[n].retracted_at or start_rows[n].known_at, start_rows[n].id),
    )
    added = sorted(
        (n for n, row in enumerate(end_rows) if row.id in new),
        key=lambda n: (end_rows[n].known_at, end_rows[n].id),
    )
    if len(removed) + len(added) > MAX_CHANGED_REPORTS:
        reason = (
            f"{len(removed) + len(added)} reports changed between {start} and {end}; at most "
            f"{MAX_CHANGED_REPORTS}: compare closer dates"
        )
        raise EvidenceError("query.from", reason)
    start_side = Side(start_engine, start_rows, start, case.prior)
    end_side = Side(engine, end_rows, end, case.prior)
    decomposition = decompose(start_side, end_side, removed, added)
    parts = [
        ChangePart(
            kind=part.kind,  # type: ignore[arg-type]
            report=None
            if part.index is None
            else ReportMarker.model_validate(
                (start_side if part.kind == "retracted" else end_side).reports[part.index]
            ),
            change=_per_outcome(part.change),
        )
        for part in decomposition.parts
    ]
    return ChangesOut(
        case_id=case.id,
        artifact_id=engine.artifact.id,
        start_artifact_id=start_engine.artifact.id,
        start=start,
        end=end,
        start_forecast=_outcomes(
            _bounds(reports.forecast(start_engine, start, case.prior, explain=False))
        ),
        end_forecast=_outcomes(_bounds(reports.forecast(engine, end, case.prior, explain=False))),
        total=_per_outcome(decomposition.total),
        parts=parts,
        headline=_headline(decomposition.total, [part.change for part in decomposition.parts]),
        notes=notes,
    )


def _headline(total: np.ndarray, parts: Sequence[np.ndarray]) -> Headline:
    """The outcome whose probability moved most, and the part that moved it most that way."""
    k = int(np.argmax(np.abs(total)))
    direction = np.sign(total[k])
    pushes = [direction * part[k] for part in parts]
    mostly = int(np.argmax(pushes)) if pushes and max(pushes) > 0 else None
    return Headline(outcome=OUTCOMES[k], change=float(total[k]), mostly=mostly)


def _bounds(forecast: Forecast) -> Bounds:
    return tuple((p.mean, p.lower, p.upper) for p in forecast.probabilities)


def _outcomes(bounds: Bounds) -> list[OutcomeOut]:
    """Each outcome's probability as served, with its ICD-203 words."""
    return [
        OutcomeOut(outcome=outcome, mean=mean, lower=lower, upper=upper, words=icd203(mean))
        for outcome, (mean, lower, upper) in zip(OUTCOMES, bounds, strict=True)
    ]


def _per_outcome(values: np.ndarray) -> dict[str, float]:
    return {outcome: float(values[k]) for k, outcome in enumerate(OUTCOMES)}
