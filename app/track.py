"""Resolved cases scored from their own timelines (`models.track_record`), and a resolved case
offered as a candidate reference case.

The forecast in force on a day is the timeline's point for it: the reports known by the end of
the day, aged to it, under the case's prior, replayed with the model that served the case that
day (the audit record says which; the artifact archive keeps it). For a case whose reports were
posted as they came, that is what the service served that day. A case is
scored on the days whose horizon reaches its outcome: from `resolved_on − horizon_days` (or the
day its period opened, if later) to the day before the outcome."""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import Row

from app.store.cases import CaseHead
from app.store.tables import CaseRow, ResolutionRow
from app.timeline import PastModels, PointCache, timeline
from models.engine import Engine
from models.errors import EvidenceError
from models.evidence import evidence_from_logs
from models.forecast import Prior
from models.timeline import CaseReports, end_of
from models.track_record import LEAD_DAYS, ResolvedCase, Scored


def scored_days(case: CaseRow, resolved_on: dt.date) -> list[dt.date]:
    """The days a resolved case is scored on (none if it resolved the day its period opened)."""
    first = max(case.opened_on, resolved_on - dt.timedelta(days=case.horizon_days))
    return [first + dt.timedelta(days=i) for i in range((resolved_on - first).days)]


def resolved_case(
    engine: Engine,
    past: PastModels,
    case: CaseRow,
    resolution: ResolutionRow,
    rows: Sequence[Row[Any]],
    served: Sequence[tuple[dt.datetime, str]],
    cache: PointCache,
) -> Scored:
    """The case's forecasts on its scored days and at each lead time, each replayed with the
    model that served the case that day (`served`: the audit record's moments and models; the
    current model before the first, or where the archive cannot replay it). EvidenceError when
    it has no day to be scored on."""
    resolved_on = resolution.resolved_on
    assert resolved_on is not None and resolution.outcome is not None  # a resolving entry
    days = scored_days(case, resolved_on)
    if not days:
        raise EvidenceError("path.case_id", f"{case.id} resolved on the day its period opened")
    leads = {lead: resolved_on - dt.timedelta(days=lead) for lead in LEAD_DAYS}
    wanted = sorted({*days, *(day for day in leads.values() if day >= case.opened_on)})
    by_model: dict[str, tuple[Engine, list[dt.date]]] = {}
    notes: list[str] = []
    moments = [moment for moment, _ in served]
    for day in wanted:
        last = bisect.bisect_left(moments, end_of(day)) - 1
        model, why = past.at_start(engine, served[last][1] if last >= 0 else None)
        by_model.setdefault(model.artifact.id, (model, []))[1].append(day)
        notes += [note for note in why if note not in notes]
    means: dict[dt.date, list[float]] = {}
    head = CaseHead.of(case)
    for model, model_days in by_model.values():
        for point in timeline(model, head, rows, model_days, cache).points:
            means[point.as_of] = [p.mean for p in point.probabilities]
    resolved = ResolvedCase(
        case.id,
        resolution.outcome,
        resolved_on,
        days,
        np.array([means[day] for day in days]),
        {lead: np.array(means[day]) if day in means else None for lead, day in leads.items()},
        base_rate(engine, case.kind),
    )
    scored = set(days)
    models = {aid: sum(d in scored for d in group) for aid, (_, group) in by_model.items()}
    return Scored(resolved, {aid: n for aid, n in models.items() if n}, notes)


def base_rate(engine: Engine, kind: str) -> np.ndarray:
    """The forecast with no evidence under the kind's population prior: what a forecaster who
    knew only the kind of case would say."""
    none = np.zeros(len(engine.catalog.ids))
    return np.asarray(engine.predictor.means(evidence_from_logs(none, none), Prior(kind)))


def reference_candidate(
    engine: Engine, case: CaseRow, resolution: ResolutionRow, rows: Sequence[Row[Any]]
) -> dict[str, Any]:
    """The resolved case in the reference-case format (`models/reference/CODEBOOK.md`), coded
    from its reports as they stood on `as_of`: the start of its scored period (the outcome then
    falls within the catalog's horizon, as the codebook requires). An indicator is present or
    absent as its reports' evidence leans, unknown without a report. A candidate for a coder
    to check against the codebook, not a coding."""
    assert resolution.resolved_on is not None and resolution.outcome is not None
    horizon = dt.timedelta(days=engine.catalog.horizon_days)
    as_of = max(case.opened_on, resolution.resolved_on - horizon)
    reports = CaseReports(engine.catalog, rows)
    mask = reports.counted(as_of)
    present, absent = reports.table.log_likelihoods(as_of, mask)
    counted = {row.indicator for row, counts in zip(rows, mask, strict=True) if counts}
    indicators = {
        indicator: (
            "unknown"
            if indicator not in counted or present[j] == absent[j]
            else "present"
            if present[j] > absent[j]
            else "absent"
        )
        for j, indicator in enumerate(engine.catalog.ids)
    }
    return {
        "id": f"{case.id}-{as_of.year}" if not case.id.endswith(str(as_of.year)) else case.id,
        "title": case.title,
        "state": case.state,
        "target": case.target,
        "patron": case.patron,
        "kind": case.kind,
        "family": case.id,
        "as_of": as_of.isoformat(),
        "outcome": resolution.outcome,
        "resolved_on": resolution.resolved_on.isoformat(),
        "label_confidence": resolution.label_confidence,
        "outcome_note": resolution.note or None,
        "indicators": indicators,
        "sources": [resolution.source] if resolution.source else [],
        "_candidate": (
            f"Coded by the service from {len(counted)} indicators' reports known by {as_of}; "
            "check each against the codebook (look-back windows, no hindsight) before adding it "
            "to the reference set."
        ),
    }
