"""Out-of-sample evaluation: leave one crisis family out, every model compared in one table.

Each family (cases of one recurring crisis, or of one war's joiners) is left out in turn; each
model is fitted without it, and its cases are forecast from their coded indicators. The fit
without a family is the full posterior reweighted by 1 / P(family's codings | draw) (Pareto-
smoothed importance sampling); where the weights' Pareto k says that is not to be trusted, the
model is sampled again without the family. Every choice a model makes is made inside the fold:
the design-effect model's correlation is chosen on the other families only (by the same
leave-one-family-out, nested), and the constant it is compared with is the other families'
outcome frequencies. So the outer scores carry no selection optimism.

Two questions, two tables:
- *What the evidence adds*: every forecast uses, as its outcome prior, the training families'
  outcome frequencies; the constant forecast of those frequencies is the bar. No base rate can
  make these scores, so they measure the likelihoods alone.
- *As served*: the served model's population prior per case kind, beside that prior alone. On a
  reference set chosen per outcome these scores mostly say how unlike the population the set
  is; they are reported, not optimised.

Coded indicators are read as reports of the coding reliability measured between independent
coders (`models.agreement`), as `forecast backtest` reads a file coded by someone else.
Uncertainty: paired differences against the constant with standard errors clustered by family;
skill scores and AUCs with 95% intervals from a bootstrap over families.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from models.catalog import OUTCOMES, Catalog
from models.contract import RELIABLE_K
from models.draws import ModelDraws
from models.evidence import evidence_from_states
from models.forecast import Prior
from models.predict import Predictor
from models.psis import psis
from models.reference import ReferenceSet
from models.scoring import auc_matrices, case_scores

MODELS = (
    "reference_frequency",
    "population_base_rate",
    "naive_product",
    "design_effect",
    "latent_groups",
)
"""The models of the evidence table, the constant bar first."""

CORRELATION_GRID = tuple(float(r) for r in np.round(np.arange(0.0, 1.0, 0.1), 1))
"""The design-effect model's candidate within-group correlations (0: the naive product)."""

NESTED_DRAWS = 1000
"""Draws used to choose the design-effect correlation inside each fold (a thinned subset)."""

BOOTSTRAP_REPLICATES = 2000
BOOTSTRAP_SEED = 20220719
RELIABILITY_BINS = (0.0, 0.1, 0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.0)


@dataclass(frozen=True)
class Folds:
    """Per family: the log weights that take it out of a posterior (S,), or None where the
    model was refitted without it; its Pareto k."""

    log_weights: list[np.ndarray | None]
    pareto_k: list[float]


def evaluate(
    catalog: Catalog,
    reference: ReferenceSet,
    draws: ModelDraws,
    baseline_theta: np.ndarray,
    refit_served: Callable[[np.ndarray], ModelDraws],
    refit_baseline: Callable[[np.ndarray], np.ndarray],
    reliability: float = 1.0,
) -> dict[str, Any]:
    """The evaluation stored in the artifact and printed by `forecast fit`."""
    families = reference.family_index
    held_out = [evidence_from_states(row, reliability) for row in reference.states]
    training_frequency = _training_frequencies(reference)
    served = _LatentModel(catalog, reference, draws, held_out)
    baseline = _IndependentModel(catalog, reference, baseline_theta, held_out)
    served_folds = _folds(served.case_log_lik, families)
    baseline_folds = _folds(baseline.case_log_lik, families)
    forecasts = {name: np.zeros((reference.size, len(OUTCOMES))) for name in MODELS}
    as_served = np.zeros((reference.size, len(OUTCOMES)))
    chosen_r: dict[str, float] = {}
    refits: list[str] = []
    for g, cases in enumerate(families):
        name = reference.families[cases[0]]
        keep = np.ones(reference.size, bool)
        keep[cases] = False
        prior = training_frequency[g]
        forecasts["reference_frequency"][cases] = prior
        fold_served, fold_baseline = served, baseline
        if served_folds.log_weights[g] is None:
            fold_served = served.refitted(refit_served(keep))
            refits.append(f"latent_groups:{name}")
        if baseline_folds.log_weights[g] is None:
            fold_baseline = baseline.refitted(refit_baseline(keep))
            refits.append(f"independent:{name}")
        weights = served_folds.log_weights[g]
        forecasts["latent_groups"][cases] = fold_served.forecast(cases, prior, weights)
        as_served[cases] = fold_served.served_forecast(cases, weights)
        base_weights = baseline_folds.log_weights[g]
        forecasts["naive_product"][cases] = fold_baseline.forecast(cases, prior, base_weights, 0.0)
        r = baseline.choose_correlation(g, families, prior)
        chosen_r[name] = r
        forecasts["design_effect"][cases] = fold_baseline.forecast(cases, prior, base_weights, r)
    forecasts["population_base_rate"] = np.stack(
        [catalog.prior_mean(kind) for kind in reference.kinds]
    )
    evidence_table = score_table(forecasts, reference, families)
    served_table = score_table(
        {"population_base_rate": forecasts["population_base_rate"], "latent_groups": as_served},
        reference,
        families,
    )
    return {
        "cases": reference.size,
        "families": len(families),
        "coding_reliability": reliability,
        "evidence": evidence_table,
        "as_served": served_table,
        "reliability_diagram": {
            "evidence": _reliability(forecasts["latent_groups"], reference.soft_labels),
            "as_served": _reliability(as_served, reference.soft_labels),
        },
        "pareto_k": {
            "latent_groups": _by_family(reference, served_folds.pareto_k),
            "independent": _by_family(reference, baseline_folds.pareto_k),
        },
        "refits": refits,
        "design_effect_correlation": chosen_r,
        "forecasts": {
            "case_ids": [case.id for case in reference.cases] or list(reference.families),
            **{name: values.round(6).tolist() for name, values in forecasts.items()},
            "as_served": as_served.round(6).tolist(),
        },
    }


# -- the models' out-of-sample forecasts ------------------------------------------------------


class _LatentModel:
    """The served model's per-case likelihoods under its draws."""

    def __init__(
        self, catalog: Catalog, reference: ReferenceSet, draws: ModelDraws, held_out: list[Any]
    ) -> None:
        self.catalog, self.reference, self.held_out = catalog, reference, held_out
        self.predictor = Predictor(catalog, draws)

    @cached_property
    def case_log_lik(self) -> np.ndarray:
        """log P(case i's codings | draw), (N, S), what the fit saw of each case: its codings
        taken as certain, its label as a mixture. Only the full posterior's is read (to take
        families out of it), so a refit never computes it."""
        log_labels = np.log(self.reference.soft_labels)
        cases = zip(self.reference.states, self.reference.kinds, strict=True)
        return np.stack(
            [
                _logsumexp(
                    self.predictor.log_likelihood(evidence_from_states(row), kind)
                    + log_labels[i][:, None],
                    axis=0,
                )
                for i, (row, kind) in enumerate(cases)
            ]
        )

    def refitted(self, draws: ModelDraws) -> _LatentModel:
        return _LatentModel(self.catalog, self.reference, draws, self.held_out)

    def _likelihood(self, i: int) -> np.ndarray:
        """log P(held-out evidence of case i | outcome, draw), (K, S)."""
        return self.predictor.log_likelihood(self.held_out[i], self.reference.kinds[i])

    def forecast(
        self, cases: np.ndarray, prior: np.ndarray, log_weights: np.ndarray | None
    ) -> np.ndarray:
        """Forecasts under a fixed prior: prior_k * sum_s w_s P(evidence | k, s), normalized."""
        return np.stack([_fixed_prior(self._likelihood(i), prior, log_weights) for i in cases])

    def served_forecast(self, cases: np.ndarray, log_weights: np.ndarray | None) -> np.ndarray:
        """Forecasts as served: each kind's population prior, draw by draw."""
        return np.stack(
            [
                self.predictor.means(self.held_out[i], Prior(self.reference.kinds[i]), log_weights)
                for i in cases
            ]
        )


class _IndependentModel:
    """The comparison model (independent emissions): naive product and design effect."""

    def __init__(
        self, catalog: Catalog, reference: ReferenceSet, theta: np.ndarray, held_out: list[Any]
    ) -> None:
        self.catalog, self.reference, self.held_out = catalog, reference, held_out
        self.theta = theta
        membership = np.eye(len(catalog.groups))[catalog.group_of]  # (J, C)
        # Per case, the log of each group's product of factors, (N, C, K, S): one case at a
        # time (all at once would hold (N, S, J, K) doubles, ~170 MB).
        self.group_logs = np.stack(
            [
                np.einsum(
                    "sjk,jc->cks",
                    np.log(theta * (e.present - e.absent)[None, :, None] + e.absent[None, :, None]),
                    membership,
                ).astype(np.float32)
                for e in held_out
            ]
        )
        strength = np.stack([e.strength for e in held_out])
        self.group_strength = strength @ membership  # (N, C)

    @cached_property
    def case_log_lik(self) -> np.ndarray:
        """log P(case i's codings | draw), (N, S), as its fit counted each case: fractions of
        each outcome (the previous model's way). Read of the full posterior only."""
        log_theta, log_not = np.log(self.theta), np.log1p(-self.theta)  # (S, J, K)
        reference = self.reference
        per_outcome = np.einsum("ij,sjk->isk", reference.coded_present, log_theta) + np.einsum(
            "ij,sjk->isk", reference.coded_absent, log_not
        )
        return np.asarray(np.einsum("isk,ik->is", per_outcome, reference.soft_labels))

    def refitted(self, theta: np.ndarray) -> _IndependentModel:
        return _IndependentModel(self.catalog, self.reference, theta, self.held_out)

    def log_likelihood(self, correlation: float, cases: Any = slice(None)) -> np.ndarray:
        """The design-effect log likelihood: each group's logs times 1 / (1 + (m - 1) r),
        (cases, K, S); r = 0 is the naive product."""
        weight = _design_weights(self.group_strength[cases], correlation)
        return np.asarray(np.einsum("ic,icks->iks", weight, self.group_logs[cases]))

    def forecast(
        self,
        cases: np.ndarray,
        prior: np.ndarray,
        log_weights: np.ndarray | None,
        correlation: float,
    ) -> np.ndarray:
        likelihood = self.log_likelihood(correlation, cases)
        return np.stack([_fixed_prior(row, prior, log_weights) for row in likelihood])

    @cached_property
    def _nested_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The design-effect likelihood of every case at every candidate correlation on the
        thinned draws used for choosing it, computed once as exp(log lik - its top over the
        draws), (R, N, K, S_thin), and that top, (R, N, K): each fold then takes one product
        with its weights instead of an exp of the whole grid (1.1 s of a 46-family evaluation)."""
        thin = self._nested_thin
        logs = np.ascontiguousarray(self.group_logs[:, :, :, thin])
        grid = np.stack(
            [
                np.einsum("ic,icks->iks", _design_weights(self.group_strength, r), logs)
                for r in CORRELATION_GRID
            ]
        )
        top = grid.max(axis=3)
        return np.exp(grid - top[..., None]), top

    @property
    def _nested_thin(self) -> slice:
        return slice(None, None, max(1, self.theta.shape[0] // NESTED_DRAWS))

    def choose_correlation(
        self, g: int, families: tuple[np.ndarray, ...], prior: np.ndarray
    ) -> float:
        """The correlation with the best leave-one-family-out log score on the other families,
        family g already out of the posterior (nested: g's own outcome is never seen)."""
        return CORRELATION_GRID[int(np.argmin(self.nested_log_scores(g, families, prior)))]

    def nested_log_scores(
        self, g: int, families: tuple[np.ndarray, ...], prior: np.ndarray
    ) -> np.ndarray:
        """Each candidate correlation's log score on the families other than g, each taken out
        of the posterior together with g, (R,). On a thinned set of draws, every candidate and
        every other family at once, with plain importance weights (this only ranks the
        candidates of a comparison model)."""
        lik = self.case_log_lik[:, self._nested_thin]
        family_lik = np.stack([lik[cases].sum(axis=0) for cases in families])  # (G, S)
        others = np.array([h for h in range(len(families)) if h != g])
        log_weights = -family_lik[g] - family_lik[others]  # (G - 1, S)
        weights = np.exp(log_weights - log_weights.max(axis=1)[:, None])
        weights /= weights.sum(axis=1)[:, None]
        cases = np.concatenate([families[h] for h in others])
        sizes = [len(families[h]) for h in others]
        scaled, top = self._nested_grid
        # sum_s w_s lik_s = exp(top) sum_s w_s exp(log lik_s - top), each factor at most 1: the
        # sum underflows only if every well-weighted draw is some 700 nats below the case's
        # best, which one case's likelihood across posterior draws does not come near.
        sums = np.einsum("rnks,ns->rnk", scaled[:, cases], np.repeat(weights, sizes, axis=0))
        per_outcome = np.log(sums) + top[:, cases] + np.log(prior)
        log_forecast = per_outcome - _logsumexp(per_outcome, axis=2)[:, :, None]  # (R, N, K)
        labels = self.reference.soft_labels[cases][None]
        return np.asarray(-(labels * log_forecast).sum(axis=(1, 2)))


def _design_weights(group_strength: np.ndarray, correlation: float) -> np.ndarray:
    """The design-effect weight of each group's evidence, 1 / (1 + (m - 1) r): (cases, C)."""
    return np.asarray(1.0 / (1.0 + np.maximum(group_strength - 1.0, 0.0) * correlation))


def _folds(case_log_lik: np.ndarray, families: tuple[np.ndarray, ...]) -> Folds:
    """PSIS weights that take each family out; None where Pareto k says refit."""
    weights: list[np.ndarray | None] = []
    ks = []
    for cases in families:
        log_weights, k = psis(-case_log_lik[cases].sum(axis=0))
        ks.append(float(k))
        weights.append(log_weights if k <= RELIABLE_K else None)
    return Folds(weights, ks)


def _fixed_prior(
    log_likelihood: np.ndarray, prior: np.ndarray, log_weights: np.ndarray | None
) -> np.ndarray:
    """prior_k * sum_s w_s P(evidence | k, s), normalized; log_likelihood (K, S)."""
    terms = log_likelihood if log_weights is None else log_likelihood + log_weights
    per_outcome = _logsumexp(terms, axis=1) + np.log(prior)
    return np.asarray(np.exp(per_outcome - _logsumexp(per_outcome, axis=0)))


def _training_frequencies(reference: ReferenceSet) -> list[np.ndarray]:
    """Per family, the other families' outcome frequencies (label-weighted)."""
    total = reference.soft_labels.sum(axis=0)
    return [
        (total - reference.soft_labels[cases].sum(axis=0)) / (reference.size - len(cases))
        for cases in reference.family_index
    ]


def _logsumexp(values: np.ndarray, axis: int) -> np.ndarray:
    top = np.max(values, axis=axis, keepdims=True)
    return np.asarray(np.log(np.exp(values - top).sum(axis=axis)) + np.squeeze(top, axis=axis))


def _by_family(reference: ReferenceSet, values: list[float]) -> dict[str, float]:
    names = [reference.families[cases[0]] for cases in reference.family_index]
    return {name: round(value, 3) for name, value in zip(names, values, strict=True)}


# -- scores with their uncertainty --------------------------------------------------------------


def score_table(
    forecasts: dict[str, np.ndarray], reference: ReferenceSet, families: tuple[np.ndarray, ...]
) -> dict[str, Any]:
    """Per model: mean scores with clustered standard errors; paired differences and skill
    against the first model (the constant bar) with intervals; AUC per outcome (not for the
    bar: a constant forecast ranks nothing, and leave-one-out constants rank backwards)."""
    soft = reference.soft_labels
    names = list(forecasts)
    scores = {name: case_scores(forecasts[name], soft) for name in names}
    bar = names[0]
    cluster = np.zeros((len(families), reference.size))
    for g, cases in enumerate(families):
        cluster[g, cases] = 1.0
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    picks = rng.integers(0, len(families), (BOOTSTRAP_REPLICATES, len(families)))
    multiplicity = np.stack([np.bincount(row, minlength=len(families)) for row in picks]) @ cluster
    table: dict[str, Any] = {}
    for name in names:
        row: dict[str, Any] = {}
        for score, values in scores[name].items():
            row[score] = _mean_se(values, cluster)
            if name != bar:
                difference = values - scores[bar][score]
                row[f"{score}_difference"] = _mean_se(difference, cluster)
                resampled = (multiplicity @ values) / (multiplicity @ scores[bar][score])
                point = 1.0 - values.sum() / scores[bar][score].sum()
                row[f"{score}_skill"] = _interval(point, 1.0 - resampled)
        row["auc"] = None if name == bar else _aucs(forecasts[name], soft, multiplicity)
        table[name] = row
    return table


def _mean_se(values: np.ndarray, cluster: np.ndarray) -> dict[str, float]:
    """Mean over cases, with its standard error clustered by family (cases of one family are
    correlated): sqrt(G / (G - 1) * sum_g (sum_{i in g} (v_i - mean))^2) / N."""
    mean = float(values.mean())
    residual = cluster @ (values - mean)
    groups = cluster.shape[0]
    se = float(np.sqrt(groups / (groups - 1) * (residual**2).sum()) / values.size)
    return {"mean": mean, "se": se}


def _interval(point: float, replicates: np.ndarray) -> dict[str, float]:
    """The point and the 2.5% and 97.5% quantiles of its bootstrap replicates (those defined:
    a replicate with no positive or no negative case has no AUC)."""
    low, high = np.nanquantile(replicates, [0.025, 0.975])
    return {"value": float(point), "lower": float(low), "upper": float(high)}


def _aucs(
    forecasts: np.ndarray, soft: np.ndarray, multiplicity: np.ndarray
) -> dict[str, dict[str, float] | None]:
    """AUC per outcome with its bootstrap interval; None for an outcome no case can be a
    positive (or a negative) of."""
    result: dict[str, dict[str, float] | None] = {}
    for k, outcome in enumerate(OUTCOMES):
        ordered, pairs = auc_matrices(forecasts[:, k], soft[:, k])
        if pairs.sum() <= 0:
            result[outcome] = None
            continue
        point = float(ordered.sum() / pairs.sum())
        numerator = ((multiplicity @ ordered) * multiplicity).sum(axis=1)
        denominator = ((multiplicity @ pairs) * multiplicity).sum(axis=1)
        resampled = numerator / np.where(denominator > 0, denominator, np.nan)
        result[outcome] = _interval(point, resampled)
    return result


def _reliability(forecasts: np.ndarray, soft: np.ndarray) -> dict[str, list[dict[str, float]]]:
    """Per outcome and forecast bin: mean forecast, observed frequency (label-weighted) and
    the number of cases: the points of a reliability diagram."""
    edges = np.asarray(RELIABILITY_BINS)
    diagram = {}
    for k, outcome in enumerate(OUTCOMES):
        bins = np.clip(np.searchsorted(edges, forecasts[:, k], side="right") - 1, 0, len(edges) - 2)
        points = []
        for b in range(len(edges) - 1):
            inside = bins == b
            if inside.any():
                points.append(
                    {
                        "low": float(edges[b]),
                        "high": float(edges[b + 1]),
                        "forecast": float(forecasts[inside, k].mean()),
                        "observed": float(soft[inside, k].mean()),
                        "cases": int(inside.sum()),
                    }
                )
        diagram[outcome] = points
    return diagram
