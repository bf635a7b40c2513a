"""The indicator catalog: indicators, elicited likelihoods, persistence, outcome prior, horizon."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, cast, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from models.errors import CatalogError
from models.fields import Text
from models.yamlio import ParsedFiles, YamlDocument, did_you_mean, fail, read_yaml, validate

Outcome = Literal["no_entry", "false_flag", "direct_invasion"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
"""The outcomes, ordered by escalation (the ranked probability score relies on this order)."""

Kind = Literal["join_war", "start_war"]
KINDS: tuple[Kind, ...] = ("join_war", "start_war")
"""Case kinds: a patron presses the state to join a war, or the state acts alone."""


def kind_of(patron: str | None) -> Kind:
    """The kind a case's patron implies: join_war with a patron, start_war without one."""
    return "start_war" if patron is None else "join_war"


DEFAULT_CATALOG = Path(__file__).with_name("catalog.yaml")

Probability = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


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


PRIOR_SUM_TOLERANCE = 1e-6
"""How far a fixed outcome prior's probabilities may sum from 1 (rounding in a file or a body)."""


def prior_sum_error(prior: PerOutcome) -> str | None:
    """Why a fixed outcome prior is refused, or None: its probabilities must sum to 1."""
    total = float(prior.as_array().sum())
    if abs(total - 1.0) <= PRIOR_SUM_TOLERANCE:
        return None
    return f"the outcome probabilities must sum to 1, not {total:.4g}"


class OutcomeCounts(PerOutcome):
    """Dirichlet pseudo-counts, one per outcome."""

    no_entry: PositiveFloat
    false_flag: PositiveFloat
    direct_invasion: PositiveFloat


class OutcomeTally(PerOutcome):
    """How many units of a population frame reached each outcome (zero allowed)."""

    no_entry: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    false_flag: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    direct_invasion: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class OutcomePrior(Strict):
    """A case kind's outcome prior: Dirichlet pseudo-counts from a stated population frame.

    The proportions of `pseudo_counts` are the frame's rates; their total says how much the
    frame is worth as evidence about a new case (small: the frame's units are heterogeneous and
    correlated). `tally` is what the frame counted, `sources` where it comes from."""

    pseudo_counts: OutcomeCounts
    tally: OutcomeTally
    frame: Text
    rationale: Text
    sources: Annotated[list[Text], Field(min_length=1)]


class Group(Strict):
    """Indicators that share a cause beyond the outcome: a latent state, on or off in each case,
    whose probability depends on the outcome. Every indicator of the group is more likely when
    the state is on (the model's one structural assumption about the group)."""

    label: Text
    state: Text  # what "the state is on" means
    kinds: Annotated[list[Kind], Field(min_length=1)] = list(KINDS)


class Indicator(Strict):
    """An observable sign, with what the article says and the judgements behind it."""

    id: Identifier
    label: Text
    group: Identifier
    direction: Literal["escalation", "restraint", "ambiguous"]
    article: Text | None = None  # the article's sentence, where the article speaks to it
    sources: list[Text] = []  # other grounding (historical patterns, research)
    likelihood: OutcomeProbabilities
    equivalent_sample_size: Annotated[float, Field(gt=0.0, le=1000.0, allow_inf_nan=False)]
    half_life_days: Annotated[float, Field(gt=0.0, le=36500.0, allow_inf_nan=False)]
    rationale: Text


class Catalog(Strict):
    """The validated catalog. Indicators keep file order; groups keep file order too."""

    version: Literal[2]
    horizon_days: Annotated[int, Field(gt=0, le=3650)]
    outcome_priors: dict[Kind, OutcomePrior]
    groups: dict[Identifier, Group]
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
    def group_ids(self) -> tuple[str, ...]:
        return tuple(self.groups)

    @cached_property
    def group_of(self) -> np.ndarray:
        """Index of each indicator's group (in the order of `groups`), shape (indicator,)."""
        return np.array([self.group_ids.index(indicator.group) for indicator in self.indicators])

    def applicable(self, kind: str) -> np.ndarray:
        """Which indicators exist for a case of this kind (the patron's only with a patron),
        shape (indicator,) bool."""
        in_kind = np.array([kind in group.kinds for group in self.groups.values()])
        return np.asarray(in_kind[self.group_of])

    def prior_counts(self, kind: str) -> np.ndarray:
        """The kind's Dirichlet pseudo-counts, shape (outcome,)."""
        return self.outcome_priors[cast(Kind, kind)].pseudo_counts.as_array()

    def prior_mean(self, kind: str) -> np.ndarray:
        """The kind's base rates: the mean of its population prior, shape (outcome,)."""
        counts = self.prior_counts(kind)
        return np.asarray(counts / counts.sum())

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of what the model depends on: ids, groups and their kinds, likelihoods,
        sample sizes, half-lives, priors and horizon. Prose (labels, rationales, sources) does
        not count: correcting a sentence does not make the fitted artifact stale."""
        content = {
            "horizon_days": self.horizon_days,
            "priors": {kind: list(self.prior_counts(kind)) for kind in KINDS},
            "groups": {name: group.kinds for name, group in self.groups.items()},
            "indicators": [
                [i.id, i.group, list(i.likelihood.as_array()), i.equivalent_sample_size]
                + [i.half_life_days]
                for i in self.indicators
            ],
        }
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def content_hash(model: BaseModel) -> str:
    """sha256 of a model's canonical JSON: what an artifact records to detect staleness."""
    canonical = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


_CATALOG_KEYS = (
    set(Catalog.model_fields)
    | set(Indicator.model_fields)
    | set(OutcomePrior.model_fields)
    | set(Group.model_fields)
    | set(OUTCOMES)
    | set(KINDS)
)


_parsed = ParsedFiles[Catalog]()


def load_catalog(path: Path = DEFAULT_CATALOG) -> Catalog:
    """Load and strictly validate a catalog file; errors name the file, line, indicator and key.
    Parsed once per process while the file stays as it is (4 ms of a service's start)."""
    return _parsed.get(path, lambda: _parse_catalog(path))


def _parse_catalog(path: Path) -> Catalog:
    doc = read_yaml(path, CatalogError)
    catalog = validate(Catalog, doc, CatalogError, _CATALOG_KEYS)
    _check_references(catalog, doc)
    return catalog


def _check_references(catalog: Catalog, doc: YamlDocument) -> None:
    for kind in KINDS:
        if kind not in catalog.outcome_priors:
            raise fail(doc, ("outcome_priors",), f"no prior for kind {kind!r}", CatalogError)
    members = {indicator.group for indicator in catalog.indicators}
    for name in catalog.groups:
        if name not in members:
            raise fail(doc, ("groups", name), "group without indicators", CatalogError)
    seen: set[str] = set()
    for position, indicator in enumerate(catalog.indicators):
        if indicator.id in seen:
            raise fail(doc, ("indicators", position, "id"), "duplicate indicator id", CatalogError)
        seen.add(indicator.id)
        if indicator.group not in catalog.groups:
            hint = did_you_mean(indicator.group, catalog.groups)
            reason = f"unknown group {indicator.group!r}{hint}"
            raise fail(doc, ("indicators", position, "group"), reason, CatalogError)
        if indicator.article is None and not indicator.sources:
            reason = "give the article's sentence or sources it rests on"
            raise fail(doc, ("indicators", position, "article"), reason, CatalogError)
