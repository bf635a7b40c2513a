"""The shipped catalog, and strict validation of broken ones."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from models.catalog import DEFAULT_CATALOG, OUTCOMES, Catalog, load_catalog
from models.errors import CatalogError

from ..files import broken_copy, line_of

SEED = Path(__file__).resolve().parents[3] / "shared" / "seed"

ARTICLE_INDICATORS = {
    "covert_mobilization",
    "mobilization_drills",
    "military_purge",
    "officer_dissent",
    "public_opposition",
    "foreign_troops_present",
    "territory_used_for_strikes",
    "border_exercises",
    "target_border_fortification",
    "target_defensive_preparations",
    "rhetoric_shift",
    "pretext_claims",
    "troop_shortfall",
    "multi_vector_signals",
    "patron_dependence",
}


def test_catalog_covers_every_indicator_the_article_names(catalog: Catalog) -> None:
    assert set(catalog.ids) >= ARTICLE_INDICATORS
    assert catalog.horizon_days == 90
    directions = {indicator.direction for indicator in catalog.indicators}
    assert {"escalation", "restraint"} <= directions


def test_each_indicator_quotes_the_article(catalog: Catalog) -> None:
    articles = sorted(SEED.glob("*.txt")) if SEED.is_dir() else []
    if not articles:
        pytest.skip("the source article (shared/seed) is not beside this checkout")
    text = _normalise(articles[0].read_text(encoding="utf-8"))
    for indicator in catalog.indicators:
        if indicator.article is None:  # grounded in its sources instead
            assert indicator.sources, indicator.id
            continue
        quote = _normalise(indicator.article.replace("...", ""))
        assert quote in text, indicator.id


def test_each_kind_has_a_documented_population_prior(catalog: Catalog) -> None:
    """The outcome priors come from population frames (not the reference set): both kinds,
    with their tally and sources, and pseudo-counts whose proportions follow the tally's
    direction (invasion rarer than entry-free crises)."""
    assert set(catalog.outcome_priors) == {"join_war", "start_war"}
    for prior in catalog.outcome_priors.values():
        counts = prior.pseudo_counts.as_array()
        assert prior.sources and prior.frame and counts.sum() <= 30
        assert counts[0] > counts[2] > counts[1]
    assert catalog.applicable("start_war").sum() < catalog.applicable("join_war").sum()


def test_false_flag_has_signs_that_come_before_the_incident(catalog: Catalog) -> None:
    """At least two indicators favour false_flag over both other outcomes as elicited."""
    favouring = [
        i.id
        for i in catalog.indicators
        if i.likelihood.false_flag > max(i.likelihood.no_entry, i.likelihood.direct_invasion)
    ]
    assert {"provocation_warnings", "narrative_seeding", "civil_alerts"} <= set(favouring)


def test_prose_does_not_change_the_fingerprint(tmp_path: Path, catalog: Catalog) -> None:
    """Correcting a rationale or a label leaves a fitted artifact valid."""
    edited = _write(
        tmp_path,
        "rationale: Call-ups hidden from the public are costly",
        "rationale: Call-ups concealed from the public are costly",
    )
    assert load_catalog(edited).fingerprint == catalog.fingerprint


def test_a_group_without_indicators_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "groups:\n", "groups:\n  empty:\n    label: x\n    state: y\n")
    with pytest.raises(CatalogError, match="group without indicators"):
        load_catalog(path)


def test_elicited_likelihoods_agree_with_stated_direction(catalog: Catalog) -> None:
    for indicator in catalog.indicators:
        p = indicator.likelihood
        if indicator.direction == "escalation":
            assert p.direct_invasion > p.no_entry, indicator.id
        elif indicator.direction == "restraint":
            assert p.direct_invasion < p.no_entry, indicator.id


def _normalise(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    # The article's drop cap splits its first word ("E\nver since"): compare without spaces.
    return re.sub(r"\s+", "", text)


def _write(tmp_path: Path, old: str, new: str) -> Path:
    return broken_copy(DEFAULT_CATALOG, tmp_path, old, new)


def test_typo_in_a_key_names_indicator_key_line_and_suggestion(tmp_path: Path) -> None:
    path = _write(tmp_path, "    equivalent_sample_size: 6\n", "    equivalent_sample_sise: 6\n")
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    message = str(error.value)
    assert "(covert_mobilization)" in message
    assert (
        "equivalent_sample_sise" in message and "did you mean 'equivalent_sample_size'" in message
    )
    assert f"{path}:{line_of(path, 'equivalent_sample_sise')}:" in message


def test_missing_outcome_names_indicator_and_outcome(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "likelihood: {no_entry: 0.15, false_flag: 0.30, direct_invasion: 0.65}",
        "likelihood: {no_entry: 0.15, direct_invasion: 0.65}",
    )
    with pytest.raises(CatalogError, match=r"\(covert_mobilization\)\.likelihood\.false_flag"):
        load_catalog(path)


@pytest.mark.parametrize("bad", ["0.0", "1.0", "1.3", "-0.2", ".nan", "high"])
def test_probability_outside_open_unit_interval_is_an_error(tmp_path: Path, bad: str) -> None:
    path = _write(tmp_path, "direct_invasion: 0.65}", f"direct_invasion: {bad}}}")
    with pytest.raises(CatalogError) as error:
        load_catalog(path)
    assert "(covert_mobilization).likelihood.direct_invasion" in str(error.value)


def test_unknown_group_suggests_the_right_one(tmp_path: Path) -> None:
    path = _write(tmp_path, "    group: restraint\n", "    group: restrain\n")
    expected = re.escape("(officer_dissent).group: unknown group 'restrain'")
    with pytest.raises(CatalogError, match=expected):
        load_catalog(path)
    with pytest.raises(CatalogError, match="did you mean 'restraint'"):
        load_catalog(path)


def test_duplicate_indicator_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "  - id: mobilization_drills\n", "  - id: covert_mobilization\n")
    with pytest.raises(CatalogError, match="duplicate indicator id"):
        load_catalog(path)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "horizon_days: 90\n", "horizon_days: [90\n")
    with pytest.raises(CatalogError, match=rf"{re.escape(str(path))}:\d+: YAML syntax error"):
        load_catalog(path)


def test_missing_file_is_a_catalog_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read file"):
        load_catalog(tmp_path / "absent.yaml")


def test_fingerprint_ignores_comments_but_not_numbers(tmp_path: Path, catalog: Catalog) -> None:
    commented = _write(tmp_path, "version: 2\n", "# a new comment\nversion: 2\n")
    assert load_catalog(commented).fingerprint == catalog.fingerprint
    changed = _write(tmp_path, "direct_invasion: 0.65}", "direct_invasion: 0.66}")
    assert load_catalog(changed).fingerprint != catalog.fingerprint


def test_outcome_order() -> None:
    assert OUTCOMES[0] == "no_entry" and OUTCOMES[-1] == "direct_invasion"
