"""The shipped reference cases, and strict validation of broken ones."""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from models.catalog import Catalog
from models.errors import ReferenceDataError
from models.reference import DEFAULT_REFERENCE, load_reference

from ..files import broken_copy


def test_reference_set_meets_the_calibration_bar(catalog: Catalog) -> None:
    reference = load_reference(catalog)
    counts = collections.Counter(case.outcome for case in reference.cases)
    assert reference.size >= 80
    assert counts["no_entry"] >= 15 and counts["direct_invasion"] >= 15, counts
    assert counts["false_flag"] >= 5, counts
    kinds = collections.Counter(reference.kinds)
    assert kinds["join_war"] >= 20 and kinds["start_war"] >= 20, kinds
    assert reference.states.shape == (reference.size, len(catalog.ids))
    for case in reference.cases:
        assert case.sources and case.outcome_note
        assert case.as_of < case.resolved_on <= case.as_of + dt.timedelta(days=90)
        # The live case must not leak into calibration.
        assert "belarus" not in f"{case.id} {case.state} {case.target} {case.patron}".lower()
        assert (case.kind == "join_war") == (case.patron is not None)
    # Disputed outcomes are marked as such rather than dropped.
    assert reference.confidence.min() < 0.7
    keyed = [case for case in reference.cases if case.dataset_ids.model_dump(exclude_none=True)]
    assert len(keyed) >= 10


def test_recurring_crises_form_one_family(catalog: Catalog) -> None:
    """Leave-one-family-out leaves a whole recurring crisis out: Russia and Ukraine 2014-2022
    (Transnistria 2022 with them) and India and Pakistan are one family each."""
    reference = load_reference(catalog)
    family = dict(zip((case.id for case in reference.cases), reference.families, strict=True))
    russia = {i for i in family if i.startswith("russia-ukraine") or i.startswith("transnistria")}
    assert len({family[i] for i in russia}) == 1 and len(russia) >= 5
    india = {i for i in family if i.startswith("india-pakistan")}
    assert len({family[i] for i in india}) == 1 and len(india) >= 2
    assert len(reference.family_index) >= 40


def test_a_kind_that_contradicts_the_patron_is_an_error(tmp_path: Path, catalog: Catalog) -> None:
    path = _broken(
        tmp_path,
        "    patron: null\n    kind: start_war\n",
        "    patron: null\n    kind: join_war\n",
    )
    with pytest.raises(ReferenceDataError, match=r"\.kind: a join_war case has a patron"):
        load_reference(catalog, path)


def test_a_backtest_file_may_leave_out_what_only_the_reference_set_needs(
    tmp_path: Path, catalog: Catalog
) -> None:
    """Not strict: no kind (it follows from the patron), family, title, sources or note, and
    indicators left out are unknown. The reference set itself requires them all."""
    path = tmp_path / "episodes.yaml"
    path.write_text(
        "version: 1\nhorizon_days: 90\ncases:\n"
        "  - {id: a-b-2000, state: A, target: B, patron: C, as_of: 2000-01-01,\n"
        "     outcome: no_entry, resolved_on: 2000-03-31, label_confidence: 0.9,\n"
        "     indicators: {covert_mobilization: present}}\n"
    )
    episodes = load_reference(catalog, path, strict=False)
    assert episodes.kinds == ("join_war",) and episodes.families == ("a-b-2000",)
    assert np.isnan(episodes.states[0]).sum() == len(catalog.ids) - 1
    with pytest.raises(ReferenceDataError, match="is required in the reference set"):
        load_reference(catalog, path)


def test_soft_labels_spread_doubt_over_the_other_outcomes(catalog: Catalog) -> None:
    reference = load_reference(catalog)
    np.testing.assert_allclose(reference.soft_labels.sum(axis=1), 1.0)
    first = reference.soft_labels[0]
    assert first[reference.labels[0]] == pytest.approx(reference.confidence[0])


def test_codebook_documents_every_indicator(catalog: Catalog) -> None:
    codebook = (DEFAULT_REFERENCE.parent / "CODEBOOK.md").read_text(encoding="utf-8")
    for indicator in catalog.ids:
        assert indicator in codebook, indicator


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    return broken_copy(DEFAULT_REFERENCE, tmp_path, old, new)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "      covert_mobilization: ",
            "      covert_mobilisation: ",
            "unknown indicator 'covert_mobilisation' (did you mean 'covert_mobilization'?)",
        ),
        (
            "    outcome: direct_invasion\n",
            "    outcome: invasion\n",
            "(japan-china-1931).outcome",
        ),
        ("    label_confidence: 0.95\n", "    label_confidence: 0.2\n", "label_confidence"),
        ("    resolved_on: 2022-02-24\n", "    resolved_on: 2022-06-24\n", "must fall after as_of"),
        (
            "      covert_mobilization: present\n",
            "      covert_mobilization: maybe\n",
            ".indicators.covert_mobilization: Input should be 'present', 'absent' or 'unknown'",
        ),
        ("    as_of: 2022-01-20\n", "    as_of: 2022-01-32\n", "(russia-ukraine-2022).as_of"),
    ],
)
def test_bad_reference_files_name_case_and_key(
    tmp_path: Path, catalog: Catalog, old: str, new: str, expected: str
) -> None:
    path = _broken(tmp_path, old, new)
    with pytest.raises(ReferenceDataError) as error:
        load_reference(catalog, path)
    assert str(error.value).startswith(f"{path}:")
    assert expected in str(error.value)


def test_an_uncoded_indicator_is_an_error(tmp_path: Path, catalog: Catalog) -> None:
    text = DEFAULT_REFERENCE.read_text(encoding="utf-8")
    start = text.index("      covert_mobilization: ")
    end = text.index("\n", start) + 1
    path = tmp_path / "cases.yaml"
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(ReferenceDataError, match="'covert_mobilization' not coded"):
        load_reference(catalog, path)
