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

from models.catalog import OUTCOMES, Catalog, Kind, Strict, content_hash, kind_of
from models.errors import ReferenceDataError
from models.fields import IsoDate, Text
from models.yamlio import ParsedFiles, YamlDocument, did_you_mean, fail, read_yaml, validate

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
    """One coded episode. The reference set requires every field and every indicator; a file
    to backtest on (`strict=False`) may leave out what only the reference set needs (its kind
    then follows from its patron, its family is its own id, an indicator left out is unknown)."""

    id: CaseId
    title: Text | None = None
    state: Text
    target: Text
    patron: str | None
    kind: Kind | None = None
    family: CaseId | None = None
    as_of: IsoDate
    outcome: Literal["no_entry", "false_flag", "direct_invasion"]
    resolved_on: IsoDate
    label_confidence: Annotated[float, Field(gt=1 / 3, le=1.0, allow_inf_nan=False)]
    outcome_note: Text | None = None
    dataset_ids: DatasetIds = DatasetIds()
    indicators: dict[str, State]
    sources: list[Text] = []

    @property
    def case_kind(self) -> str:
        """The kind as recorded, else as its patron implies."""
        return self.kind or kind_of(self.patron)


class ReferenceFile(Strict):
    version: Literal[1, 2]
    horizon_days: Annotated[int, Field(gt=0)]
    cases: Annotated[list[ReferenceCase], Field(min_length=1)]


@dataclass(frozen=True)
class ReferenceSet:
    """Validated reference cases as arrays aligned with a catalog.

    states: (case, indicator), 1 present / 0 absent / nan unknown; labels: (case,) outcome index;
    confidence: (case,) probability that the label is right; kinds and families: per case.
    """

    cases: tuple[ReferenceCase, ...]
    states: np.ndarray
    labels: np.ndarray
    confidence: np.ndarray
    fingerprint: str
    kinds: tuple[str, ...]
    families: tuple[str, ...]

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

    @cached_property
    def family_index(self) -> tuple[np.ndarray, ...]:
        """The cases of each family (in order of first appearance), as index arrays."""
        names = list(dict.fromkeys(self.families))
        return tuple(np.flatnonzero([family == name for family in self.families]) for name in names)


def load_reference(
    catalog: Catalog, path: Path = DEFAULT_REFERENCE, strict: bool = True
) -> ReferenceSet:
    """Load and validate coded episodes against `catalog`; errors name the case and key.

    strict (the reference set): every field and every indicator coded. Not strict (a file to
    backtest on): kind, family, title, note, dataset ids and sources may be missing, and an
    indicator left out counts as unknown."""
    doc = read_yaml(path, ReferenceDataError)
    keys = set(ReferenceFile.model_fields) | set(ReferenceCase.model_fields)
    data = validate(ReferenceFile, doc, ReferenceDataError, keys)
    _check_cases(data, catalog, doc, strict)
    states = np.array(
        [
            [STATE_VALUE[case.indicators.get(j, "unknown")] for j in catalog.ids]
            for case in data.cases
        ]
    )
    return ReferenceSet(
        cases=tuple(data.cases),
        states=states,
        labels=np.array([OUTCOMES.index(case.outcome) for case in data.cases]),
        confidence=np.array([case.label_confidence for case in data.cases]),
        fingerprint=content_hash(data),
        kinds=tuple(case.case_kind for case in data.cases),
        families=tuple(case.family or case.id for case in data.cases),
    )


_fingerprints = ParsedFiles[str]()


def reference_fingerprint(catalog: Catalog, path: Path = DEFAULT_REFERENCE) -> str:
    """The fingerprint of the reference set at `path` (what an artifact must have been fitted
    on), parsed once per process while the file stays as it is: loading a model then does not
    parse its 3,000 lines of YAML again (48 of the 100 ms an app took to start)."""
    return _fingerprints.get(
        path, lambda: load_reference(catalog, path).fingerprint, catalog.fingerprint
    )


_REQUIRED_IN_REFERENCE = ("title", "kind", "family", "outcome_note")


def _check_cases(data: ReferenceFile, catalog: Catalog, doc: YamlDocument, strict: bool) -> None:
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
        if case.case_kind != kind_of(case.patron):
            reason = "a join_war case has a patron; a start_war case has patron: null"
            raise fail(doc, (*at, "kind"), reason, ReferenceDataError)
        horizon_end = case.as_of + dt.timedelta(days=data.horizon_days)
        if not case.as_of < case.resolved_on <= horizon_end:
            reason = f"must fall after as_of ({case.as_of}) and by {horizon_end}"
            raise fail(doc, (*at, "resolved_on"), reason, ReferenceDataError)
        if strict:
            _check_complete(case, catalog, doc, at)


def _check_complete(
    case: ReferenceCase, catalog: Catalog, doc: YamlDocument, at: tuple[str, int]
) -> None:
    """What the reference set needs beyond a backtest file: every field, every indicator."""
    for key in _REQUIRED_IN_REFERENCE:
        if getattr(case, key) is None:
            raise fail(doc, (*at,), f"{key} is required in the reference set", ReferenceDataError)
    if not case.sources:
        raise fail(doc, (*at, "sources"), "cite at least one source", ReferenceDataError)
    missing = [j for j in catalog.ids if j not in case.indicators]
    if missing:
        reason = f"indicator {missing[0]!r} not coded (use unknown when not known)"
        raise fail(doc, (*at, "indicators"), reason, ReferenceDataError)
