"""The shipped reference cases, and strict validation of broken ones."""

from __future__ import annotations

import collections
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from models.catalog import OUTCOMES, Catalog
from models.errors import ReferenceDataError
from models.reference import DEFAULT_REFERENCE, load_reference

from ..conftest import broken_copy


def test_reference_set_meets_the_calibration_bar(catalog: Catalog) -> None:
    reference = load_reference(catalog)
    counts = collections.Counter(case.outcome for case in reference.cases)
    assert reference.size >= 30
    assert all(counts[outcome] >= 5 for outcome in OUTCOMES), counts
    assert reference.states.shape == (reference.size, len(catalog.ids))
    for case in reference.cases:
        assert case.sources and case.outcome_note
        assert case.as_of < case.resolved_on <= case.as_of + dt.timedelta(days=90)
        assert "belarus" not in case.id  # the live case must not leak into calibration
    # Disputed outcomes are marked as such rather than dropped.
    assert reference.confidence.min() < 0.7
    keyed = [case for case in reference.cases if case.dataset_ids.model_dump(exclude_none=True)]
    assert len(keyed) >= 10


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
            "(russia-ukraine-2022).outcome",
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
