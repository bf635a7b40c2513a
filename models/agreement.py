"""Inter-coder agreement on the reference cases, and the coding reliability it implies.

Some reference cases were coded a second time by an independent coder who saw only the codebook
(never the first coding nor the catalog's likelihoods): `reference/second-coding.yaml`. Per
indicator this module reports Cohen's kappa over the three codes (present, absent, unknown) and
how often the two coders agree when both coded the indicator known; indicators that do not exist
for a case's kind (the patron's, without a patron) are left out, since both coders code them
absent by rule.

The coding reliability is what a model calibrated on the first coder's codings should make of
someone else's: if a second coder's known code equals the first's with probability rho and is
otherwise a coin flip (the channel of `models.evidence`), they agree with probability
rho + (1 - rho) / 2, so rho = 2 * agreement - 1, pooled over every indicator both coded known.
Out-of-sample scores and `forecast backtest` read coded indicators at this reliability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from models.catalog import Catalog, Strict
from models.errors import ReferenceDataError
from models.fields import IsoDate, Text
from models.reference import CaseId, ReferenceSet, State
from models.yamlio import fail, read_yaml, validate

DEFAULT_SECOND_CODING = Path(__file__).parent / "reference" / "second-coding.yaml"
CODES = ("present", "absent", "unknown")


class SecondCoding(Strict):
    """One episode as the second coder coded it, blind to the first coding."""

    id: CaseId
    batch: Annotated[int, Field(ge=1)]
    outcome: Literal["no_entry", "false_flag", "direct_invasion"]
    label_confidence: Annotated[float, Field(gt=1 / 3, le=1.0)]
    resolved_on: IsoDate
    indicators: dict[str, State]
    notes: Text


class Resolution(Strict):
    """A contradiction between the coders (one present, the other absent) and how it was
    settled: the reference set carries `resolved`; agreement is measured on `first`."""

    id: CaseId
    indicator: str
    first: State
    second: State
    resolved: State
    note: Text


class SecondCodingFile(Strict):
    version: Literal[1]
    batches: dict[int, Text]  # batch number -> how it was coded
    codings: Annotated[list[SecondCoding], Field(min_length=1)]
    resolutions: list[Resolution] = []


@dataclass(frozen=True)
class SecondCodings:
    """The second coding and the resolutions of its contradictions with the first."""

    codings: tuple[SecondCoding, ...]
    resolutions: tuple[Resolution, ...]

    def __bool__(self) -> bool:
        return bool(self.codings)


NO_SECOND_CODING = SecondCodings((), ())


@dataclass(frozen=True)
class IndicatorAgreement:
    indicator: str
    pairs: int  # episodes where the indicator exists for the case's kind
    kappa: float | None  # Cohen's kappa over present / absent / unknown; None if undefined
    both_known: int
    agree_known: int


@dataclass(frozen=True)
class Agreement:
    episodes: int
    per_indicator: tuple[IndicatorAgreement, ...]
    outcome_agreement: int
    reliability: float  # rho = 2 * P(agree | both coded known) - 1
    both_known: int
    agree_known: int
    per_batch: dict[int, tuple[int, int]]  # batch -> (both known, agreeing)


def load_second_coding(catalog: Catalog, path: Path = DEFAULT_SECOND_CODING) -> SecondCodings:
    doc = read_yaml(path, ReferenceDataError)
    keys = set(SecondCodingFile.model_fields) | set(SecondCoding.model_fields)
    data = validate(SecondCodingFile, doc, ReferenceDataError, keys)
    for i, coding in enumerate(data.codings):
        missing = set(catalog.ids) - set(coding.indicators)
        extra = set(coding.indicators) - set(catalog.ids)
        if missing or extra:
            reason = (
                f"indicators must be exactly the catalog's (missing {sorted(missing)}, "
                f"unknown {sorted(extra)})"
            )
            raise fail(doc, ("codings", i, "indicators"), reason, ReferenceDataError)
        if coding.batch not in data.batches:
            raise fail(doc, ("codings", i, "batch"), "batch not described", ReferenceDataError)
    for i, resolution in enumerate(data.resolutions):
        if resolution.indicator not in catalog.position:
            reason = f"unknown indicator {resolution.indicator!r}"
            raise fail(doc, ("resolutions", i, "indicator"), reason, ReferenceDataError)
    return SecondCodings(tuple(data.codings), tuple(data.resolutions))


def second_coding_beside(catalog: Catalog, reference_path: Path) -> SecondCodings:
    """The second coding kept beside a reference file (`second-coding.yaml`), if there is one:
    a fit on the shipped cases and a fit on an analyst's own set each find theirs."""
    path = reference_path.parent / DEFAULT_SECOND_CODING.name
    return load_second_coding(catalog, path) if path.is_file() else NO_SECOND_CODING


def agreement(catalog: Catalog, reference: ReferenceSet, second: SecondCodings) -> Agreement:
    """Agreement of the second coding with the first: the reference set's coding, except
    where a resolution records what the first coder had coded before it was settled."""
    first = {
        case.id: (case, kind) for case, kind in zip(reference.cases, reference.kinds, strict=True)
    }
    original = {(r.id, r.indicator): r.first for r in second.resolutions}
    unknown = [coding.id for coding in second.codings if coding.id not in first]
    if unknown:
        raise ReferenceDataError("second coding", f"episodes not in the reference set: {unknown}")
    rows = []
    totals = np.zeros(2, int)
    per_batch: dict[int, np.ndarray] = {}
    for j, indicator in enumerate(catalog.ids):
        pairs = [
            (
                original.get((c.id, indicator), first[c.id][0].indicators[indicator]),
                c.indicators[indicator],
                c.batch,
            )
            for c in second.codings
            if catalog.applicable(first[c.id][1])[j]
        ]
        known = [(a, b, batch) for a, b, batch in pairs if "unknown" not in (a, b)]
        agree = sum(a == b for a, b, _ in known)
        for a, b, batch in known:
            per_batch.setdefault(batch, np.zeros(2, int))
            per_batch[batch] += (1, a == b)
        totals += (len(known), agree)
        rows.append(IndicatorAgreement(indicator, len(pairs), _kappa(pairs), len(known), agree))
    outcomes = sum(first[c.id][0].outcome == c.outcome for c in second.codings)
    rate = totals[1] / totals[0] if totals[0] else 1.0
    return Agreement(
        episodes=len(second.codings),
        per_indicator=tuple(rows),
        outcome_agreement=int(outcomes),
        reliability=float(2 * rate - 1),
        both_known=int(totals[0]),
        agree_known=int(totals[1]),
        per_batch={batch: (int(n), int(a)) for batch, (n, a) in sorted(per_batch.items())},
    )


def _kappa(pairs: Sequence[tuple[str, str, int]]) -> float | None:
    """Cohen's kappa over the three codes; None when chance agreement is certain."""
    if not pairs:
        return None
    table = np.zeros((len(CODES), len(CODES)))
    for a, b, _ in pairs:
        table[CODES.index(a), CODES.index(b)] += 1
    table /= table.sum()
    observed = np.trace(table)
    chance = float(table.sum(axis=1) @ table.sum(axis=0))
    if chance >= 1.0:
        return None
    return float((observed - chance) / (1 - chance))
