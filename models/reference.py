"""Reference cases: resolved historical episodes, coded on the catalog's indicators.

The file format and the coding rules are documented in `models/reference/CODEBOOK.md`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, StringConstraints

from models.catalog import OUTCOMES, Catalog, Strict, Text, content_hash
from models.errors import ReferenceDataError
from models.yamlio import YamlDocument, did_you_mean, fail, read_yaml, validate

DEFAULT_REFERENCE = Path(__file__).parent / "reference" / "cases.yaml"

State = Literal["present", "absent", "unknown"]
STATE_VALUE = {"present": 1.0, "absent": 0.0, "unknown": np.nan}
CaseId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]


class DatasetIds(Strict):
    """Cross-references to the standard conflict datasets (ids only; their data is not copied)."""

    icb: int | None = None
    mid: int | None = None
    ucdp: int | None = None


class ReferenceCase(Strict):
    id: CaseId
    title: Text
    state: Text
    target: Text
    patron: str | None
    as_of: dt.date
    outcome: Literal["no_entry", "false_flag", "direct_invasion"]
    resolved_on: dt.date
    label_confidence: Annotated[float, Field(gt=1 / 3, le=1.0, allow_inf_nan=False)]
    outcome_note: Text
    dataset_ids: DatasetIds
    indicators: dict[str, State]
    sources: Annotated[list[Text], Field(min_length=1)]


class ReferenceFile(Strict):
    version: Literal[1]
    horizon_days: Annotated[int, Field(gt=0)]
    cases: Annotated[list[ReferenceCase], Field(min_length=1)]


@dataclass(frozen=True)
class ReferenceSet:
    """Validated reference cases as arrays aligned with a catalog.

    states: (case, indicator), 1 present / 0 absent / nan unknown; labels: (case,) outcome index;
    confidence: (case,) probability that the label is right.
    """

    cases: tuple[ReferenceCase, ...]
    states: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    fingerprint: str

    @property
    def size(self) -> int:
        """Number of cases (simulated sets carry arrays only, no case records)."""
        return len(self.labels)

    @cached_property
    def coded_present(self) -> np.ndarray:
        """1 where an indicator was coded present, else 0 (absent or unknown): (case, indicator)."""
        return np.where(np.isnan(self.states), 0.0, self.states)

    @cached_property
    def coded_absent(self) -> np.ndarray:
        """1 where an indicator was coded absent, else 0 (present or unknown): (case, indicator)."""
        return np.where(np.isnan(self.states), 0.0, 1.0 - self.states)

    @cached_property
    def soft_labels(self) -> np.ndarray:
        """P(true outcome = k | recorded label), (case, outcome): the label's confidence c for the
        recorded outcome, (1 - c) / 2 for each of the others."""
        recorded = np.eye(len(OUTCOMES))[self.labels] == 1
        c = self.confidence[:, None]
        return np.where(recorded, c, (1.0 - c) / (len(OUTCOMES) - 1))


def load_reference(catalog: Catalog, path: Path = DEFAULT_REFERENCE) -> ReferenceSet:
    """Load and validate the reference cases against `catalog`; errors name the case and key."""
    doc = read_yaml(path, ReferenceDataError)
    keys = set(ReferenceFile.model_fields) | set(ReferenceCase.model_fields)
    data = validate(ReferenceFile, doc, ReferenceDataError, keys)
    _check_cases(data, catalog, doc)
    states = np.array(
        [[STATE_VALUE[case.indicators[j]] for j in catalog.ids] for case in data.cases]
    )
    return ReferenceSet(
        cases=tuple(data.cases),
        states=states,
        labels=np.array([OUTCOMES.index(case.outcome) for case in data.cases]),
        confidence=np.array([case.label_confidence for case in data.cases]),
        fingerprint=content_hash(data),
    )


def _check_cases(data: ReferenceFile, catalog: Catalog, doc: YamlDocument) -> None:
    if data.horizon_days != catalog.horizon_days:
        reason = f"{data.horizon_days} days differs from the catalog's {catalog.horizon_days}"
        raise fail(doc, ("horizon_days",), reason, ReferenceDataError)
    seen: set[str] = set()
    for i, case in enumerate(data.cases):
        at = ("cases", i)
        if case.id in seen:
            raise fail(doc, (*at, "id"), "duplicate case id", ReferenceDataError)
        seen.add(case.id)
        for key in case.indicators:
            if key not in catalog.position:
                reason = f"unknown indicator {key!r}{did_you_mean(key, catalog.ids)}"
                raise fail(doc, (*at, "indicators", key), reason, ReferenceDataError)
        missing = [j for j in catalog.ids if j not in case.indicators]
        if missing:
            reason = f"indicator {missing[0]!r} not coded (use unknown when not known)"
            raise fail(doc, (*at, "indicators"), reason, ReferenceDataError)
        horizon_end = case.as_of + dt.timedelta(days=data.horizon_days)
        if not case.as_of < case.resolved_on <= horizon_end:
            reason = f"must fall after as_of ({case.as_of}) and by {horizon_end}"
            raise fail(doc, (*at, "resolved_on"), reason, ReferenceDataError)
