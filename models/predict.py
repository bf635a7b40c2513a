"""The predictor: exact outcome probabilities for a set of reports, per posterior draw, in numpy.

The model (`models.fit`): given the outcome y, each catalog group c has a latent state h_c, on
with probability phi[c, y]; each indicator j of the group is present with probability
theta[j, h_c] (higher when the state is on). Reports reach the indicators through the noisy
channel of `models.evidence`, which gives per indicator P(reports | present) and
P(reports | absent). For every posterior draw s, the latent states and the indicators are summed
out exactly, two terms per group:

    P(y, evidence | s) = pi[s, y] * prod_c sum_h P(h_c = h | y) * prod_{j in c} f_j(h)
    f_j(h) = theta[s, j, h] * P(reports on j | present) + (1 - theta[s, j, h]) * P(.. | absent)

and the forecast is P(y | evidence) = sum_s P(y, evidence | s) / sum_s P(evidence | s): the
exact posterior predictive of one joint distribution over (parameters, outcome, latent states,
indicators, reports). The draws are thereby weighted by P(evidence | s), which is Bayes for
(reference cases + this case); their Pareto k says when the case is too unlike the reference
set for that to be trusted. Because every quantity comes from that one joint distribution,
the forecast obeys what any posterior obeys: the expected forecast after learning an indicator
is the forecast now, a more reliable report moves it further, no reports give the prior, and a
retracted report restores it exactly.

Indicators of a group that does not exist for the case's kind (the patron's, in a case without
a patron) are left out. An indicator whose likelihoods are fixed by an override is taken out of
its group: it then depends on the outcome alone, with the same P(present | outcome) in every
draw.

This module computes the probabilities; the draws' layout and the per-forecast arrays are in
`models.draws`, the explanations in `models.explain`, the surprise test in `models.surprise`,
the result types in `models.forecast`.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import numpy as np

from models import explain as explanations
from models.catalog import KINDS, OUTCOMES, Catalog
from models.contract import SURPRISE_Z
from models.draws import DRAW_DTYPE, DrawLayout, EvidenceState, ModelDraws
from models.evidence import Evidence
from models.forecast import (
    BaseRateShift,
    Contribution,
    Forecast,
    InformationValue,
    OutcomeProbability,
    Prior,
    PriorUsed,
    per_outcome,
)
from models.psis import pareto_k
from models.surprise import surprise_z

INTERVAL = (0.05, 0.95)
"""Quantiles of the reported credible interval (90%)."""

BASE_RATE_QUANTILES = (0.05, 0.95)
"""The plausible range of a base rate: these quantiles of the kind's population prior."""

MIN_SURPRISE_INDICATORS = 3
"""Below this many observed indicators the surprise test has too little to go on."""


class Predictor:
    """Forecasts from posterior draws. Pure: safe to share between threads."""

    def __init__(self, catalog: Catalog, draws: ModelDraws) -> None:
        self.layout = DrawLayout(catalog, draws)
        self.catalog = catalog
        self.draws = self.layout.draws
        self._pi_mean = {kind: pi.mean(axis=0) for kind, pi in draws.pi.items()}
        self._base_rate_priors = {kind: _base_rate_priors(pi) for kind, pi in draws.pi.items()}
        # The catalog's priors as forecasts name them: built once, they never change.
        self._catalog_priors: dict[str, PriorUsed] = {
            kind: PriorUsed(
                kind,
                "catalog",
                per_outcome(self._pi_mean[kind]),
                per_outcome(catalog.prior_counts(kind)),
            )
            for kind in KINDS
        }

    def predict(
        self,
        evidence: Evidence,
        prior: Prior,
        fixed: Mapping[str, np.ndarray] | None = None,
        explain: bool = True,
    ) -> Forecast:
        """The forecast for this evidence: means, 90% intervals, drivers, what to look for next,
        under `prior`, with the likelihoods of the indicators in `fixed` fixed (id -> (K,))."""
        state = self._state(evidence, prior, fixed)
        # Sums over draws in double, from one scaled joint P(k, evidence | draw) that the value
        # of information uses too: its branches then average to these means to ~1e-16.
        top = state.log_joint.max()
        joint = _scaled(state.log_joint, top)  # (K, S)
        totals = joint.sum(axis=0)  # P(evidence | draw), scaled
        total = totals.sum()
        means = joint.sum(axis=1) / total
        draw_weights = totals / total
        per_draw = (joint / totals).astype(DRAW_DTYPE)  # P(k | evidence, draw)
        bounds = _weighted_interval(per_draw, draw_weights, INTERVAL)
        probabilities = tuple(
            [
                OutcomeProbability(outcome, mean, lower, upper)
                for outcome, mean, (lower, upper) in zip(
                    OUTCOMES, means.tolist(), bounds.tolist(), strict=True
                )
            ]
        )
        z = surprise_z(self.layout, state)
        contributions: tuple[Contribution, ...] = ()
        information: tuple[InformationValue, ...] = ()
        if explain:
            contributions = explanations.contributions(self.layout, state)
            information = explanations.information(self.layout, state, joint, means)
        # P(evidence | k) up to a common factor, the draws' mean (single precision is enough for
        # likelihood ratios and base-rate rows, to ~1e-7).
        log_likelihood = state.log_likelihood
        evidence_likelihood = np.exp(log_likelihood - log_likelihood.max()).sum(axis=1) / self.draws
        return Forecast(
            probabilities=probabilities,
            contributions=contributions,
            value_of_information=information,
            surprise=state.observed.size >= MIN_SURPRISE_INDICATORS and bool(z.max() < SURPRISE_Z),
            surprise_z=per_outcome(z),
            pareto_k=pareto_k(totals),  # the draws' importance weights
            effective_draws=float(1.0 / (draw_weights @ draw_weights)),
            draws=self.draws,
            prior=self._prior_used(prior),
            evidence_ratios=per_outcome(evidence_likelihood / evidence_likelihood[0]),
            base_rates=self._base_rates(prior.kind, evidence_likelihood),
        )

    def log_likelihood(
        self, evidence: Evidence, kind: str, fixed: Mapping[str, np.ndarray] | None = None
    ) -> np.ndarray:
        """log P(evidence | outcome, draw), (K, S) in double: the lean path for scoring many
        cases under priors and draw weights of the caller's choosing."""
        state = self._state(evidence, Prior(kind), fixed)
        return np.asarray(state.log_likelihood, dtype=np.float64)

    def means(
        self,
        evidence: Evidence,
        prior: Prior,
        log_draw_weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Outcome probabilities only, optionally with extra log weights on the draws (S,),
        such as leave-one-out weights."""
        log_joint = self._state(evidence, prior, None).log_joint
        if log_draw_weights is not None:
            log_joint = log_joint + log_draw_weights  # in double
        return _normalized_sums(log_joint)

    def _state(
        self, evidence: Evidence, prior: Prior, fixed: Mapping[str, np.ndarray] | None
    ) -> EvidenceState:
        return self.layout.state(evidence, prior.kind, prior.fixed, fixed)

    # -- priors ----------------------------------------------------------------------------

    def _prior_used(self, prior: Prior) -> PriorUsed:
        if prior.fixed is not None:
            return PriorUsed(prior.kind, prior.source, per_outcome(list(prior.fixed)), None)
        used = self._catalog_priors[prior.kind]
        return used if used.source == prior.source else used._replace(source=prior.source)

    def _base_rates(self, kind: str, likelihood: np.ndarray) -> tuple[BaseRateShift, ...]:
        """The forecast under each outcome's base rate at the ends of its plausible range,
        with a fixed prior: P(k | evidence) is then prior_k * P(evidence | k), normalized."""
        outcomes, rates, priors = self._base_rate_priors[kind]
        posteriors = priors * likelihood
        posteriors /= posteriors.sum(axis=1, keepdims=True)
        return tuple(
            [
                BaseRateShift(outcome, rate, per_outcome(row))
                for outcome, rate, row in zip(outcomes, rates, posteriors.tolist(), strict=True)
            ]
        )


def _base_rate_priors(pi: np.ndarray) -> tuple[list[str], list[float], np.ndarray]:
    """For each outcome and each end of its plausible range (quantiles of the population prior's
    draws `pi`, (S, K)), the prior with that base rate and the other outcomes in their mean
    proportions: the outcomes, the rates and the priors (2K, K)."""
    mean = pi.mean(axis=0)
    ranges = np.quantile(pi, BASE_RATE_QUANTILES, axis=0)  # (2, K)
    outcomes, rates, priors = [], [], []
    for k, outcome in enumerate(OUTCOMES):
        for rate in ranges[:, k]:
            others = mean * (1 - rate) / (1 - mean[k])
            others[k] = rate
            outcomes.append(outcome)
            rates.append(float(rate))
            priors.append(others)
    return outcomes, rates, np.array(priors)


def _scaled(log_joint: np.ndarray, top: np.floating) -> np.ndarray:
    """exp(log_joint - top) in double, the exponential taken in the log joint's own precision:
    single for a forecast, as the draws are (numpy's double exponential measured four times
    slower than its single one where the CPU lacks AVX-512)."""
    return np.asarray(np.exp(log_joint - top), dtype=np.float64)


def _normalized_sums(log_joint: np.ndarray) -> np.ndarray:
    """Outcome probabilities from a log joint (K, S): sum over draws, normalize over outcomes."""
    totals = _scaled(log_joint, log_joint.max()).sum(axis=1)
    return np.asarray(totals / totals.sum())


def _weighted_interval(
    values: np.ndarray, weights: np.ndarray, qs: tuple[float, float]
) -> np.ndarray:
    """Weighted quantiles `qs` of each row of `values` (K, S) under draw weights (S,): (K, 2).

    Systematic resampling turns the weighted draws into an equally weighted sample (each draw
    repeated about S * weight times, deterministically), whose plain quantiles are its order
    statistics at four ranks. Its error is O(1 / S) in rank, the same order as the weighted
    estimator's. The rows are sorted whole: numpy's vectorized sort of 3 x 4,000 values in
    single precision measured 67 us, np.partition at the four ranks 122 us.
    """
    # Draw s is repeated as often as the grid (i + 0.5) / n falls in its share of the weight
    # (truncating a positive number is flooring it).
    boundaries = (weights.cumsum() * weights.size + 0.5).astype(np.intp)
    counts = boundaries.copy()
    np.subtract(boundaries[1:], boundaries[:-1], out=counts[1:])
    # Repeating the draws' numbers, then taking those columns: twice as fast as repeating
    # the columns themselves.
    resampled = values.take(np.repeat(np.arange(weights.size), counts), axis=1)
    low, high, fraction = _order_statistics(resampled.shape[1], qs)
    ordered = np.sort(resampled, axis=1)
    lower = ordered[:, low]
    return np.asarray(lower + fraction * (ordered[:, high] - lower))


@cache
def _order_statistics(n: int, qs: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantiles `qs` of n values as np.quantile takes them: the ranks either side of each
    quantile and the interpolation fraction between them."""
    positions = np.asarray(qs) * (n - 1)
    low = np.floor(positions).astype(np.intp)
    high = np.minimum(low + 1, n - 1)
    return low, high, positions - low
