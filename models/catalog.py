"""The indicator catalog: indicators, elicited likelihoods, persistence, outcome prior, horizon."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.errors import CatalogError
from models.yamlio import YamlDocument, did_you_mean, fail, read_yaml, validate

OUTCOMES: tuple[str, ...] = ("no_entry", "false_flag", "direct_invasion")
"""The outcomes, ordered by escalation (the ranked probability score relies on this order)."""

DEFAULT_CATALOG = Path(__file__).with_name("catalog.yaml")

Probability = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PerOutcome(Strict):
    """A value for each outcome; subclasses declare one field per outcome."""

    def as_array(self) -> np.ndarray:
        """The values in escalation order, shape (outcome,)."""
        return np.array([getattr(self, outcome) for outcome in OUTCOMES])


class OutcomeProbabilities(PerOutcome):
    """One probability per outcome, each in the open interval (0, 1)."""

    no_entry: Probability
    false_flag: Probability
    direct_invasion: Probability


class OutcomeCounts(PerOutcome):
    """Dirichlet pseudo-counts, one per outcome."""

    no_entry: PositiveFloat
    false_flag: PositiveFloat
    direct_invasion: PositiveFloat


class OutcomePrior(Strict):
    pseudo_counts: OutcomeCounts
    rationale: Text


class Indicator(Strict):
    """An observable sign, with what the article says and the judgements behind it."""

    id: Identifier
    label: Text
    group: Identifier
    direction: Literal["escalation", "restraint", "ambiguous"]
    article: Text
    likelihood: OutcomeProbabilities
    equivalent_sample_size: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)]
    half_life_days: Annotated[float, Field(gt=0.0, le=36500.0, allow_inf_nan=False)]
    rationale: Text


class Catalog(Strict):
    """The validated catalog. Indicators keep file order; `group_order` sorts them by group."""

    version: Literal[1]
    horizon_days: Annotated[int, Field(gt=0, le=3650)]
    outcome_prior: OutcomePrior
    groups: dict[Identifier, Text]
    indicators: Annotated[list[Indicator], Field(min_length=1)]

    @cached_property
    def ids(self) -> tuple[str, ...]:
        return tuple(indicator.id for indicator in self.indicators)

    @cached_property
    def position(self) -> dict[str, int]:
        return {indicator_id: j for j, indicator_id in enumerate(self.ids)}

    def get(self, indicator_id: str) -> Indicator:
        """The indicator with this id; CatalogError with a suggestion when there is none."""
        try:
            return self.indicators[self.position[indicator_id]]
        except KeyError:
            hint = did_you_mean(indicator_id, self.ids)
            raise CatalogError("indicator", f"unknown indicator {indicator_id!r}{hint}") from None

    @cached_property
    def likelihoods(self) -> np.ndarray:
        """Elicited P(present | outcome), shape (indicator, outcome)."""
        return np.stack([indicator.likelihood.as_array() for indicator in self.indicators])

    @cached_property
    def sample_sizes(self) -> np.ndarray:
        return np.array([indicator.equivalent_sample_size for indicator in self.indicators])

    @cached_property
    def half_lives(self) -> np.ndarray:
        return np.array([indicator.half_life_days for indicator in self.indicators])

    @cached_property
    def group_of(self) -> np.ndarray:
        """Index of each indicator's group, in order of first appearance, shape (indicator,)."""
        names = list(dict.fromkeys(indicator.group for indicator in self.indicators))
        return np.array([names.index(indicator.group) for indicator in self.indicators])

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the catalog's content (comments and layout of the file do not count)."""
        return content_hash(self)


def content_hash(model: BaseModel) -> str:
    """sha256 of a model's canonical JSON: what an artifact records to detect staleness."""
    canonical = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_CATALOG_KEYS = (
    set(Catalog.model_fields)
    | set(Indicator.model_fields)
    | set(OutcomePrior.model_fields)
    | set(OUTCOMES)
)


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    """Load and strictly validate a catalog file; errors name the file, line, indicator and key."""
    doc = read_yaml(path, CatalogError)
    catalog = validate(Catalog, doc, CatalogError, _CATALOG_KEYS)
    _check_references(catalog, doc)
    return catalog


def _check_references(catalog: Catalog, doc: YamlDocument) -> None:
    seen: set[str] = set()
    for position, indicator in enumerate(catalog.indicators):
        if indicator.id in seen:
            raise fail(doc, ("indicators", position, "id"), "duplicate indicator id", CatalogError)
        seen.add(indicator.id)
        if indicator.group not in catalog.groups:
            hint = did_you_mean(indicator.group, catalog.groups)
            reason = f"unknown group {indicator.group!r}{hint}"
            raise fail(doc, ("indicators", position, "group"), reason, CatalogError)
