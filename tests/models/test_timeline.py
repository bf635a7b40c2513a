"""A case over time: which reports count on a date, and the exact decomposition of a change
(property tests over random report sets)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from models.artifact import make_artifact
from models.catalog import load_catalog
from models.engine import Engine
from models.evidence import Report, evidence_from_reports
from models.forecast import Prior
from models.predict import Predictor
from models.timeline import CaseReports, Side, by_content, counts_on, decompose, end_of

from ..synthetic import synthetic_draws

CATALOG = load_catalog()
DRAWS = synthetic_draws(CATALOG, n_draws=1000, seed=21)
ENGINE = Engine(CATALOG, make_artifact(DRAWS, {}), Predictor(CATALOG, DRAWS))
PRIOR = Prior("join_war")
START = dt.date(2022, 6, 1)
SETTINGS = settings(max_examples=150, deadline=None)


@dataclass(frozen=True)
class Stored:
    indicator: str
    value: float
    observed_on: dt.date
    grade: str
    source: str
    known_at: dt.datetime
    retracted_at: dt.datetime | None


def moment(day: dt.date, hours: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(hours=hours)


@st.composite
def stored_reports(draw: st.DrawFn) -> Stored:
    observed = START + dt.timedelta(days=draw(st.integers(0, 60)))
    known = moment(observed, draw(st.integers(0, 24 * 20)))
    retracted = draw(st.one_of(st.none(), st.integers(0, 24 * 30)))
    return Stored(
        indicator=draw(st.sampled_from(CATALOG.ids)),
        value=draw(st.sampled_from([0.0, 1.0, 0.7])),
        observed_on=observed,
        grade=draw(st.sampled_from("ABCDEF")),
        source="property test",
        known_at=known,
        retracted_at=None if retracted is None else known + dt.timedelta(hours=retracted),
    )


days = st.integers(0, 100).map(lambda n: START + dt.timedelta(days=n))


@SETTINGS
@given(reports=st.lists(stored_reports(), max_size=30), day=days)
def test_the_reports_counted_on_a_day_are_those_known_and_standing_then(
    reports: list[Stored], day: dt.date
) -> None:
    counted = CaseReports(CATALOG, reports).counted(day)
    assert list(counted) == [counts_on(report, day) for report in reports]


@SETTINGS
@given(reports=st.lists(stored_reports(), max_size=30), day_list=st.lists(days, max_size=20))
def test_one_sweep_gives_each_day_what_counts_then(
    reports: list[Stored], day_list: list[dt.date]
) -> None:
    case = CaseReports(CATALOG, reports)
    ordered = sorted(day_list)
    weights = [2**200 + 7 * n for n in range(len(reports))]
    for day, (total, count) in zip(ordered, case.sweep(ordered, weights), strict=True):
        counted = case.counted(day)
        assert total == sum(w for w, counts in zip(weights, counted, strict=True) if counts)
        assert count == int(counted.sum())
        later = sum(r.known_at >= end_of(day) and r.retracted_at is None for r in reports)
        assert case.left_out(day) == later


def means(reports: list[Report], day: dt.date) -> np.ndarray:
    evidence = evidence_from_reports(CATALOG, reports, day)
    return ENGINE.forecast(evidence, PRIOR, explain=False).means()


def ratios(standing: list[Report], report: Report, day: dt.date) -> np.ndarray:
    """P(report | outcome, what stands) up to a common factor, from the model's likelihoods,
    independently of any forecast's path (as in test_coherence)."""
    log_pi = np.asarray(ENGINE.predictor.layout.log_pi["join_war"], dtype=np.float64)  # (K, S)
    before = ENGINE.predictor.log_likelihood(
        evidence_from_reports(CATALOG, standing, day), "join_war"
    )
    after = ENGINE.predictor.log_likelihood(
        evidence_from_reports(CATALOG, [*standing, report], day), "join_war"
    )
    top = (before + log_pi).max()
    return np.exp(after + log_pi - top).sum(axis=1) / np.exp(before + log_pi - top).sum(axis=1)


def as_report(report: Stored) -> Report:
    return Report(report.indicator, report.value, report.observed_on, report.grade)


@SETTINGS
@given(
    common=st.lists(stored_reports(), max_size=12),
    removed=st.lists(stored_reports(), max_size=6),
    added=st.lists(stored_reports(), max_size=8),
    ages=st.tuples(st.integers(0, 30), st.integers(0, 30)),
)
def test_a_change_is_the_sum_of_its_parts_and_each_part_goes_the_reports_way(
    common: list[Stored], removed: list[Stored], added: list[Stored], ages: tuple[int, int]
) -> None:
    first = START + dt.timedelta(days=61 + ages[0])
    last = first + dt.timedelta(days=ages[1])
    standing = [as_report(r) for r in common]
    gone = [as_report(r) for r in removed]
    new = [as_report(r) for r in added]
    start = Side(ENGINE, [*standing, *gone], first, PRIOR)
    end = Side(ENGINE, [*new, *standing], last, PRIOR)
    removed_at = list(range(len(standing), len(standing) + len(gone)))
    changes = decompose(start, end, removed_at, list(range(len(new))))

    np.testing.assert_allclose(changes.start, means([*standing, *gone], first), atol=1e-15)
    np.testing.assert_allclose(changes.end, means([*standing, *new], last), atol=1e-15)
    total = sum((part.change for part in changes.parts), np.zeros(3))
    np.testing.assert_allclose(total, changes.total, atol=1e-12)
    assert [part.kind for part in changes.parts] == (
        ["retracted"] * len(gone)
        + (["ageing"] if first != last and standing else [])
        + ["added"] * len(new)
    )
    # A report moves toward the outcome it favours most, given what stood before it, and away
    # from the one it favours least; taking it out does the opposite.
    steps = [part for part in changes.parts if part.kind != "ageing"]
    for n, report in enumerate(gone):
        rest = [*standing, *gone[n + 1 :]]
        _assert_moves_its_way(ratios(rest, report, first), -steps[n].change)
    for n, report in enumerate(new):
        before = [*standing, *new[:n]]
        _assert_moves_its_way(ratios(before, report, last), steps[len(gone) + n].change)


def _assert_moves_its_way(ratio: np.ndarray, change: np.ndarray) -> None:
    ranked = np.sort(ratio)
    if ranked[-1] > ranked[-2] * (1 + 1e-9):
        assert change[int(np.argmax(ratio))] >= -1e-12, (ratio, change)
    if ranked[0] < ranked[1] * (1 - 1e-9):
        assert change[int(np.argmin(ratio))] <= 1e-12, (ratio, change)


def test_a_model_change_is_a_part_of_its_own() -> None:
    reports = [Report("covert_mobilization", 1.0, START, "B")]
    fixed = Prior("join_war", "case", (0.2, 0.3, 0.5))
    changes = decompose(
        Side(ENGINE, reports, START, PRIOR), Side(ENGINE, reports, START, fixed), [], []
    )
    [part] = changes.parts
    assert part.kind == "model"
    np.testing.assert_allclose(part.change, changes.total, atol=1e-15)
    assert abs(part.change).sum() > 0.01


def test_reports_are_matched_as_multisets() -> None:
    one, two = (
        Report("covert_mobilization", 1.0, START, "B"),
        Report("rhetoric_shift", 0.0, START, "C"),
    )
    removed, added = by_content([one, one, two], [two, one, two], key=lambda r: r)
    assert (removed, added) == ([1], [2])
