"""Reports as a noisy channel: from graded, dated reports to per-indicator evidence.

A report from a source of reliability rho tells the truth with probability rho and is otherwise
noise (a fair coin). A report with value v in [0, 1] (1 = present, 0 = absent, in between = the
source's own probability that the indicator is present) therefore has likelihood

    P(report | present) = rho * v       + (1 - rho) / 2
    P(report | absent)  = rho * (1 - v) + (1 - rho) / 2

Age works through the same channel: a report `dt` days old counts with reliability
rho * 2 ** (-dt / half_life) for its indicator's half-life. Several reports of one indicator
multiply through the indicator's true state, so ten weak reports of one sign never count as
ten independent signs.

Each report's log-likelihoods are rounded to a multiple of 2**-30 (`QUANTUM`): sums of such
numbers are exact in double precision, so a set of reports has the same evidence whatever the
order they were added in, and taking a retracted report's terms out restores the evidence to
the bit (the live forecast and a replay of the same reports serve the same bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import numpy as np

from models.catalog import Catalog
from models.errors import EvidenceError
from models.yamlio import did_you_mean

ADMIRALTY_RELIABILITY: dict[str, float] = {
    "A": 0.95,  # completely reliable: a tried source, rarely wrong
    "B": 0.80,  # usually reliable
    "C": 0.60,  # fairly reliable
    "D": 0.40,  # not usually reliable
    "E": 0.20,  # unreliable
    # F, "reliability cannot be judged": the channel is linear in rho, so an unknown source counts
    # as the mean reliability of the sources analysts cannot vet (new, anonymous, partisan).
    "F": 0.30,
}
"""Admiralty (NATO STANAG 2511) source grade -> probability the report tells the truth."""

QUANTUM = 2.0**-30
"""Grid of a report's log-likelihood terms: 1e-9 nats, far below any effect on a forecast, and
coarse enough that sums of up to ~10**6 terms of |log| < 8 stay exact in double precision."""


@dataclass(frozen=True, slots=True)
class Report:
    """One dated statement about an indicator, with its source and Admiralty grade."""

    indicator: str
    value: float
    observed_on: date
    grade: str
    source: str = ""


class ReportLike(Protocol):
    """Anything report-shaped: a posted, stored, scenario or hypothetical report."""

    @property
    def indicator(self) -> str: ...
    @property
    def value(self) -> float: ...
    @property
    def observed_on(self) -> date: ...
    @property
    def grade(self) -> str: ...
    @property
    def source(self) -> str: ...


def as_report(report: ReportLike) -> Report:
    """The domain report behind any report-shaped object."""
    return Report(report.indicator, report.value, report.observed_on, report.grade, report.source)


@dataclass(frozen=True)
class Evidence:
    """Per-indicator likelihood of the evidence given the indicator's true state.

    `present[j]` and `absent[j]` are P(evidence on j | j present) and P(... | absent), each scaled
    so that the larger is 1; an unobserved indicator has both equal to 1. Shapes (indicator,).
    """

    present: np.ndarray
    absent: np.ndarray

    @property
    def strength(self) -> np.ndarray:
        """How decisive the evidence on each indicator is: 0 (none) to 1 (certain); one report
        of reliability rho has strength rho."""
        return np.asarray(np.abs(self.present - self.absent) / (self.present + self.absent))

    @property
    def observed(self) -> np.ndarray:
        """Mask of indicators that carry any evidence."""
        return self.strength > 0.0


def no_evidence(n_indicators: int) -> Evidence:
    ones = np.ones(n_indicators)
    return Evidence(ones, ones.copy())


def evidence_from_states(states: np.ndarray, reliability: float = 1.0) -> Evidence:
    """Evidence for coded indicator states (1 present, 0 absent, nan unknown), each read as a
    report of `reliability` (1: taken as certain; a coder other than the reference set's is
    less than certain, see `models.agreement`). Shapes (indicator,)."""
    known = ~np.isnan(states)
    value = np.nan_to_num(states)
    noise = (1.0 - reliability) / 2.0
    present = reliability * value + noise
    absent = reliability * (1.0 - value) + noise
    top = np.maximum(present, absent)
    return Evidence(np.where(known, present / top, 1.0), np.where(known, absent / top, 1.0))


def decayed(rho: np.ndarray, age_days: np.ndarray, half_life_days: np.ndarray) -> np.ndarray:
    """Reliability `rho` after `age_days`, halved every `half_life_days` (elementwise)."""
    return np.asarray(rho * 0.5 ** (age_days / half_life_days))


def reliability(grade: str, age_days: float, half_life_days: float) -> float:
    """Effective reliability of one report: its grade's, decayed with its age."""
    return float(
        decayed(
            np.array(ADMIRALTY_RELIABILITY[grade]), np.array(age_days), np.array(half_life_days)
        )
    )


def check_report(catalog: Catalog, report: Report, as_of: date, where: str) -> None:
    """Raise EvidenceError naming the field when a report cannot be used on `as_of`."""
    if report.indicator not in catalog.position:
        hint = did_you_mean(report.indicator, catalog.ids)
        raise EvidenceError(f"{where}.indicator", f"unknown indicator {report.indicator!r}{hint}")
    if report.grade not in ADMIRALTY_RELIABILITY:
        raise EvidenceError(f"{where}.grade", f"grade must be one of A-F, got {report.grade!r}")
    if not 0.0 <= report.value <= 1.0:  # also rejects nan
        raise EvidenceError(f"{where}.value", f"value must be in [0, 1], got {report.value!r}")
    if report.observed_on > as_of:
        raise EvidenceError(
            f"{where}.observed_on", f"report dated {report.observed_on} is after as-of {as_of}"
        )


def evidence_from_reports(catalog: Catalog, reports: Sequence[Report], as_of: date) -> Evidence:
    """Combine reports known on `as_of` into per-indicator evidence (see the module docstring)."""
    return evidence_from_logs(*report_log_likelihoods(catalog, reports, as_of))


def report_log_likelihoods(
    catalog: Catalog, reports: Sequence[Report], as_of: date
) -> tuple[np.ndarray, np.ndarray]:
    """Per indicator, log P(reports | present) and log P(reports | absent) on `as_of`.

    Sums over reports: the evidence of a growing set of reports is kept up to date by adding
    each new report's terms (and subtracting a retracted one's) without revisiting the rest."""
    for number, report in enumerate(reports):
        check_report(catalog, report, as_of, f"reports[{number}]")
    return ReportTable.of(catalog, reports).log_likelihoods(as_of)


@dataclass(frozen=True)
class ReportTable:
    """Checked reports as columns, to be aged to any date: their indicator rows, the day each
    was observed (proleptic ordinal), their grades' reliability and their values."""

    catalog: Catalog
    rows: np.ndarray
    observed: np.ndarray
    rho: np.ndarray
    value: np.ndarray

    @classmethod
    def of(cls, catalog: Catalog, reports: Sequence[ReportLike]) -> ReportTable:
        """The table of reports already checked (`check_report`) but for their dates."""
        return cls(
            catalog,
            np.array([catalog.position[r.indicator] for r in reports], dtype=np.intp),
            np.array([r.observed_on.toordinal() for r in reports], dtype=np.int64),
            np.array([ADMIRALTY_RELIABILITY[r.grade] for r in reports], dtype=np.float64),
            np.array([r.value for r in reports], dtype=np.float64),
        )

    def log_likelihoods(
        self, as_of: date, used: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per indicator, the summed log-likelihoods of the reports (those in the mask `used`,
        if given) aged to `as_of`, observed by then."""
        rows, observed, rho, value = self.rows, self.observed, self.rho, self.value
        if used is not None:
            rows, observed, rho, value = rows[used], observed[used], rho[used], value[used]
        n = len(self.catalog.ids)
        if rows.size == 0:
            return np.zeros(n), np.zeros(n)
        age = (as_of.toordinal() - observed).astype(np.float64)
        aged = decayed(rho, age, self.catalog.half_lives[rows])
        noise = (1.0 - aged) / 2.0
        log_present = _quantized(np.log(aged * value + noise))
        log_absent = _quantized(np.log(aged * (1 - value) + noise))
        return (
            np.bincount(rows, weights=log_present, minlength=n),
            np.bincount(rows, weights=log_absent, minlength=n),
        )


def _quantized(logs: np.ndarray) -> np.ndarray:
    """Round to the grid `QUANTUM`, on which sums are exact (see the module docstring)."""
    return np.asarray(np.round(logs / QUANTUM) * QUANTUM)


def evidence_from_logs(log_present: np.ndarray, log_absent: np.ndarray) -> Evidence:
    """Evidence from summed log-likelihoods, scaled so that the larger side is 1."""
    top = np.maximum(log_present, log_absent)
    return Evidence(np.exp(log_present - top), np.exp(log_absent - top))
