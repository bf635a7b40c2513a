"""The report channel: grades, ageing, bad reports."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from models.catalog import Catalog
from models.errors import EvidenceError
from models.evidence import (
    ADMIRALTY_RELIABILITY,
    QUANTUM,
    Report,
    evidence_from_reports,
    evidence_from_states,
    reliability,
    report_log_likelihoods,
)
from models.scenario import Grade

AS_OF = date(2022, 7, 19)


def test_grades_are_ordered_and_f_is_below_fairly_reliable() -> None:
    values = [ADMIRALTY_RELIABILITY[g] for g in "ABCDE"]
    assert values == sorted(values, reverse=True)
    assert ADMIRALTY_RELIABILITY["E"] < ADMIRALTY_RELIABILITY["F"] < ADMIRALTY_RELIABILITY["C"]
    assert set(ADMIRALTY_RELIABILITY) == set(Grade.__args__)


def test_reliability_halves_every_half_life() -> None:
    assert reliability("A", 0, 30) == pytest.approx(0.95)
    assert reliability("A", 30, 30) == pytest.approx(0.475)
    assert reliability("A", 60, 30) == pytest.approx(0.2375)


def test_one_report_has_the_strength_of_its_reliability(catalog: Catalog) -> None:
    evidence = evidence_from_reports(
        catalog, [Report("pretext_claims", 1.0, AS_OF, "B", "s")], AS_OF
    )
    j = catalog.position["pretext_claims"]
    assert evidence.strength[j] == pytest.approx(0.8)
    assert evidence.observed.sum() == 1
    assert evidence.present[j] == 1.0 and evidence.absent[j] == pytest.approx(0.1 / 0.9)


def test_reports_of_one_indicator_combine_through_its_state(catalog: Catalog) -> None:
    one = Report("pretext_claims", 1.0, AS_OF, "C", "s")
    evidence = evidence_from_reports(catalog, [one, one], AS_OF)
    j = catalog.position["pretext_claims"]
    assert evidence.absent[j] == pytest.approx((0.2 / 0.8) ** 2)
    contradicting = evidence_from_reports(
        catalog, [one, Report(one.indicator, 0.0, AS_OF, "C", "s")], AS_OF
    )
    assert contradicting.strength[j] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("report", "field", "reason"),
    [
        (Report("pretext_claim", 1.0, AS_OF, "A"), "indicator", "did you mean 'pretext_claims'"),
        (Report("pretext_claims", 1.0, AS_OF, "G"), "grade", "one of A-F"),
        (Report("pretext_claims", 1.5, AS_OF, "A"), "value", "in [0, 1]"),
        (Report("pretext_claims", float("nan"), AS_OF, "A"), "value", "in [0, 1]"),
        (Report("pretext_claims", 1.0, date(2022, 7, 20), "A"), "observed_on", "after as-of"),
    ],
)
def test_bad_reports_name_the_field(
    catalog: Catalog, report: Report, field: str, reason: str
) -> None:
    good = Report("troop_shortfall", 1.0, AS_OF, "A")
    with pytest.raises(EvidenceError) as error:
        evidence_from_reports(catalog, [good, report], AS_OF)
    assert error.value.where == f"reports[1].{field}"
    assert reason in error.value.reason


def test_coded_states_read_at_a_reliability_are_reports_of_it() -> None:
    """A coded indicator read at reliability rho is a report of reliability rho: strength rho,
    nothing for an unknown, and certainty at rho = 1."""
    states = np.array([1.0, 0.0, np.nan])
    evidence = evidence_from_states(states, 0.9)
    np.testing.assert_allclose(evidence.strength, [0.9, 0.9, 0.0])
    assert evidence.absent[0] == pytest.approx(0.05 / 0.95)
    certain = evidence_from_states(states)
    np.testing.assert_array_equal(certain.present, [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(certain.absent, [0.0, 1.0, 1.0])


def test_log_likelihoods_lie_on_a_grid_where_sums_are_exact(catalog: Catalog) -> None:
    """Each report's terms are multiples of QUANTUM: adding and taking out reports in any order
    restores the sums to the bit (see test_coherence for the forecast)."""
    reports = [
        Report("pretext_claims", 1.0, AS_OF, "C", "s"),
        Report("covert_mobilization", 0.3, date(2022, 6, 1), "F", "s"),
        Report("pretext_claims", 0.0, date(2022, 7, 1), "B", "s"),
    ]
    present, absent = report_log_likelihoods(catalog, reports, AS_OF)
    for sums in (present, absent):
        np.testing.assert_array_equal(np.round(sums / QUANTUM), sums / QUANTUM)
    one_at_a_time = sum(
        np.stack(report_log_likelihoods(catalog, [r], AS_OF)) for r in reversed(reports)
    )
    np.testing.assert_array_equal(one_at_a_time, np.stack([present, absent]))
