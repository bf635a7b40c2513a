"""The predictor: exact outcome probabilities for a set of reports, per posterior draw, in numpy.

For every posterior draw s the outcome is summed out exactly:

    log P(y = k, evidence | draw s) = log pi[s, k]
        + sum over groups c of  w_c * sum_{j in c} log( theta[s, j, k] * present_j
                                                        + (1 - theta[s, j, k]) * absent_j )

where `present_j`, `absent_j` are the evidence likelihoods of `models.evidence`. The group weight
w_c = 1 / (1 + (m_c - 1) * r) discounts indicators that move together (m_c is the summed strength
of the evidence in group c, r the within-group correlation fitted by cross-validation; r = 0 is
the naive product). The case's own evidence also informs the parameters: draws are weighted by
P(evidence | draw s), which is exact Bayes for (reference cases + this case), and the weights'
Pareto k says when the case is too unlike the reference set for that to be trusted.

Draws are held indicator-major, (J, K, S), so every step is a pass over contiguous draws, and in
single precision (`DRAW_DTYPE`).
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import sys
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np

from models.catalog import OUTCOMES, Catalog
from models.evidence import Evidence
from models.psis import pareto_k

INTERVAL = (0.05, 0.95)
"""Quantiles of the reported credible interval (90%)."""

DRAW_DTYPE = np.float32
"""Precision of the draws and of the per-draw arithmetic.

Single precision rounds at ~1e-7, five orders below the Monte Carlo error of 4,000 draws (~1e-2),
and halves the memory a forecast streams through: measured 15% faster per forecast on this
machine, where a forecast's arrays (1.6 MB each in double) overflow the 1 MB L2 cache. Outcome
probabilities still agree with exact inference to 1e-6 (tests). Weights and summaries over
draws are taken in double."""

SURPRISE_Z = -2.33
"""Evidence is surprising when even its best-fitting outcome puts it in its lowest ~1% tail."""

MIN_SURPRISE_INDICATORS = 3
"""Below this many observed indicators the surprise test has too little to go on."""

EXPLANATION_DRAWS = 500
"""Contributions and value of information use an evenly thinned subset of this many draws.

Both sides of each comparison (with and without an indicator) use the same draws: measured on
the article's case against all 4,000 draws, contributions differ by 0.008 in log-odds (root mean
square; 0.006 with 1,000 draws), while explanations cost an eighth as much. The forecast's own
probabilities and intervals always use every draw."""


# The rows of a forecast are NamedTuples: immutable like frozen dataclasses, and several times
# cheaper to create (a forecast creates a few dozen).


class OutcomeProbability(NamedTuple):
    outcome: str
    mean: float
    lower: float
    upper: float


class Contribution(NamedTuple):
    """How far an indicator's reports moved each outcome's log-odds (with minus without them)."""

    indicator: str
    log_odds: dict[str, float]


class InformationValue(NamedTuple):
    """What learning an unobserved indicator's true state would be worth."""

    indicator: str
    bits: float  # expected reduction in the entropy of the outcome
    p_present: float
    if_present: dict[str, float]
    if_absent: dict[str, float]


@dataclass(frozen=True)
class Forecast:
    """A forecast: probabilities with intervals, why (contributions), what next (value of
    information), whether the reports fit any outcome (surprise), and how far the draws had to
    be reweighted for this case (Pareto k, effective draws out of `draws`)."""

    probabilities: tuple[OutcomeProbability, ...]
    contributions: tuple[Contribution, ...]  # largest effect first
    value_of_information: tuple[InformationValue, ...]  # most valuable first
    surprise: bool
    surprise_z: dict[str, float]
    pareto_k: float
    effective_draws: float
    draws: int

    def mean(self, outcome: str) -> float:
        return next(p.mean for p in self.probabilities if p.outcome == outcome)

    def means(self) -> np.ndarray:
        return np.array([p.mean for p in self.probabilities])


def group_weights(group_strength: np.ndarray, correlation: float) -> np.ndarray:
    """Design-effect weight of each group's evidence: 1 / (1 + (m - 1) r), m = evidence count."""
    return 1.0 / (1.0 + np.maximum(group_strength - 1.0, 0.0) * correlation)


@cache
def _keep_freed_memory() -> None:
    """Stop glibc from handing freed heap back to the kernel after every forecast.

    A forecast allocates a few arrays of ~1.6 MB. By default glibc unmaps or trims them on free,
    and the next forecast page-faults them back in: measured on this VM, that made np.log over
    204,000 values 8x slower (1.5 ms instead of 0.2 ms). Keeping up to 128 MB of freed heap
    mapped removes that cost for the whole process. Harmless where glibc is absent.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        libc.mallopt(m_mmap_threshold, 32 << 20)
        libc.mallopt(m_trim_threshold, 128 << 20)
        libc.mallopt(m_top_pad, 16 << 20)
    except (OSError, AttributeError):
        return


class Predictor:
    """Forecasts from posterior draws. Pure: safe to share between threads.

    pi: (draw, outcome); theta: (draw, indicator, outcome), indicators in catalog order;
    correlation: the within-group correlation r in [0, 1).
    """

    def __init__(
        self, catalog: Catalog, pi: np.ndarray, theta: np.ndarray, correlation: float
    ) -> None:
        n_draws, n_indicators, n_outcomes = theta.shape
        if pi.shape != (n_draws, n_outcomes) or n_indicators != len(catalog.ids):
            raise ValueError("draws do not match the catalog")
        _keep_freed_memory()
        self.catalog = catalog
        self.correlation = correlation
        self.draws = n_draws
        # Indicators are held sorted by group, so that a group's evidence is a contiguous slice.
        self._order = np.argsort(catalog.group_of, kind="stable")
        self._ids = tuple(catalog.ids[j] for j in self._order)
        self._group = catalog.group_of[self._order]
        self._n_groups = int(self._group.max()) + 1
        self._membership = np.eye(self._n_groups)[self._group]  # (J, C) one-hot
        theta_sorted = theta[:, self._order, :]
        self._theta_mean = theta_sorted.mean(axis=0)
        self._all = _Draws.of(theta_sorted, pi)
        # Explanations use an evenly thinned, contiguous copy (measured: strided views of the
        # full arrays cost more than copying them, and so did moving the thinned draws first).
        self._thin = slice(None, None, max(1, n_draws // EXPLANATION_DRAWS))
        self._thinned = _Draws.of(theta_sorted[self._thin], pi[self._thin])

    def predict(
        self, evidence: Evidence, correlation: float | None = None, explain: bool = True
    ) -> Forecast:
        """The forecast for this evidence: means, 90% intervals, drivers, what to look for next."""
        r = self.correlation if correlation is None else correlation
        evidence = self._sorted(evidence)
        state = self._state(self._all, evidence, r)
        top = state.log_joint.max(axis=0)
        per_draw = np.exp(state.log_joint - top)  # scaled P(k, evidence | draw), (K, S)
        totals = per_draw.sum(axis=0)
        per_draw /= totals  # P(k | evidence, draw)
        log_evidence = np.log(totals, dtype=np.float64) + top  # log P(evidence | draw), (S,)
        draw_weights = np.exp(log_evidence - log_evidence.max())
        draw_weights /= draw_weights.sum()
        means = per_draw @ draw_weights
        bounds = _weighted_interval(per_draw, draw_weights, INTERVAL)
        probabilities = tuple(
            OutcomeProbability(outcome, float(means[k]), float(bounds[k, 0]), float(bounds[k, 1]))
            for k, outcome in enumerate(OUTCOMES)
        )
        z = self._surprise_z(evidence, state.observed, r)
        contributions: tuple[Contribution, ...] = ()
        information: tuple[InformationValue, ...] = ()
        if explain:
            thinned = state.thinned(self._thinned, self._thin)
            contributions = self._contributions(thinned)
            information = self._information(thinned)
        return Forecast(
            probabilities=probabilities,
            contributions=contributions,
            value_of_information=information,
            surprise=state.observed.size >= MIN_SURPRISE_INDICATORS
            and bool(np.max(z) < SURPRISE_Z),
            surprise_z={outcome: float(z[k]) for k, outcome in enumerate(OUTCOMES)},
            pareto_k=pareto_k(log_evidence),
            effective_draws=float(1.0 / np.sum(draw_weights**2)),
            draws=self.draws,
        )

    def means(
        self,
        evidence: Evidence,
        correlation: float | None = None,
        log_draw_weights: np.ndarray | None = None,
    ) -> np.ndarray:
        """Outcome probabilities only, optionally with extra log weights on the draws (S,),
        such as leave-one-out weights: the lean path for scoring many cases."""
        r = self.correlation if correlation is None else correlation
        log_joint = self._state(self._all, self._sorted(evidence), r).log_joint
        if log_draw_weights is not None:
            log_joint = log_joint + log_draw_weights
        return np.asarray(_variant_means(log_joint[None])[0])

    def _sorted(self, evidence: Evidence) -> Evidence:
        return Evidence(evidence.present[self._order], evidence.absent[self._order])

    def _state(self, draws: _Draws, evidence: Evidence, correlation: float) -> _State:
        """Per-draw evidence factors and the tempered log joint, for group-sorted evidence."""
        strength = evidence.strength
        observed = np.flatnonzero(strength > 0)
        group_strength = np.bincount(self._group, weights=strength, minlength=self._n_groups)
        group_weight = group_weights(group_strength, correlation)
        theta = draws.theta if observed.size == len(self._group) else draws.theta[observed]
        present = evidence.present[observed].astype(DRAW_DTYPE)[:, None, None]
        absent = evidence.absent[observed].astype(DRAW_DTYPE)[:, None, None]
        factors = theta * (present - absent)
        factors += absent  # P(evidence on j | k, draw), (V, K, S)
        # Observed indicators stay sorted by group: each group is a slice of `factors`. Multiply
        # within a group, then take one log per group (groups hold a few factors, each far from
        # zero, so the product cannot underflow): a third of the logs of a log per indicator.
        bounds = np.searchsorted(self._group[observed], np.arange(self._n_groups + 1))
        log_groups = np.empty((self._n_groups, *draws.log_pi.shape), DRAW_DTYPE)  # (C, K, S)
        for group, (start, stop) in enumerate(itertools.pairwise(bounds)):
            _product(factors[start:stop], out=log_groups[group])
        np.log(log_groups, out=log_groups)
        log_joint = draws.log_pi + np.tensordot(group_weight.astype(DRAW_DTYPE), log_groups, axes=1)
        return _State(
            draws,
            correlation,
            observed,
            bounds,
            strength,
            group_strength,
            group_weight,
            factors,
            log_groups,
            log_joint,
        )

    def _contributions(self, state: _State) -> tuple[Contribution, ...]:
        """Leave each observed indicator's reports out, exactly, and compare log-odds."""
        if state.observed.size == 0:
            return ()
        groups = self._group[state.observed]
        remaining = state.group_strength[groups] - state.strength[state.observed]
        weight_without = group_weights(remaining, state.correlation)
        regroup = weight_without - state.group_weight[groups]
        # log P(k, evidence without v | draw), built in place in one (V, K, S) buffer: drop v's
        # factor, and reweight the rest of its group (whose evidence is now weaker).
        without = np.log(state.factors)
        without *= -weight_without.astype(DRAW_DTYPE)[:, None, None]
        regrouped = state.log_groups[groups]
        regrouped *= regroup.astype(DRAW_DTYPE)[:, None, None]
        without += regrouped
        # One shift for every variant: leaving evidence out raises the log joint by at most
        # -log(min factor) (about 10), far from overflow.
        without += state.log_joint - state.log_joint.max()
        totals = np.exp(without, out=without).sum(axis=2)  # (V, K)
        means = _variant_means(state.log_joint[None])[0]
        effect = _logit(means) - _logit(totals / totals.sum(axis=1, keepdims=True))
        order = np.argsort(-np.abs(effect).max(axis=1), kind="stable")
        values, ids = effect.tolist(), state.observed.tolist()
        return tuple(
            Contribution(self._ids[ids[v]], dict(zip(OUTCOMES, values[v], strict=True)))
            for v in order.tolist()
        )

    def _information(self, state: _State) -> tuple[InformationValue, ...]:
        """Expected entropy reduction from learning each unobserved indicator's true state."""
        unobserved = np.flatnonzero(state.strength == 0)
        if unobserved.size == 0:
            return ()
        draws = state.draws
        joint = np.exp(state.log_joint - _logsumexp(state.log_joint, axis=None))
        means = joint.sum(axis=1)
        p_present = np.einsum("ks,vks->v", joint, draws.theta[unobserved])
        groups = self._group[unobserved]
        weight_with = group_weights(state.group_strength[groups] + 1.0, state.correlation)
        base = (
            state.log_joint
            + ((weight_with - state.group_weight[groups])[:, None, None]) * state.log_groups[groups]
        )
        scale = weight_with[:, None, None]
        if_present = _variant_means(base + scale * draws.log_theta[unobserved])
        if_absent = _variant_means(base + scale * draws.log_not_theta[unobserved])
        expected = p_present * _entropy_bits(if_present) + (1 - p_present) * _entropy_bits(
            if_absent
        )
        gain = np.maximum(_entropy_bits(means) - expected, 0.0)
        rows = [
            InformationValue(
                self._ids[j],
                float(gain[v]),
                float(p_present[v]),
                dict(zip(OUTCOMES, if_present[v].tolist(), strict=True)),
                dict(zip(OUTCOMES, if_absent[v].tolist(), strict=True)),
            )
            for v, j in enumerate(unobserved)
        ]
        return tuple(sorted(rows, key=lambda row: -row.bits))

    def _surprise_z(
        self, evidence: Evidence, observed: np.ndarray, correlation: float
    ) -> np.ndarray:
        """Per outcome, how atypical the direction of the evidence is (z-score, posterior mean).

        Each observed indicator's evidence points one way with some strength; under outcome k it
        would point 'present' with probability p = (theta + (1 - theta) e) / (1 + e), e being
        the weaker side's likelihood. The observed log-probability of the directions is compared
        with its mean and its variance under k, indicators of one group correlated by r as the
        forecast assumes (independent indicators would make mixed signals look too surprising).
        A direction d (1 present, 0 absent) has log-probability d logit(p) + log(1 - p): its
        deviation from the mean is (d - p) logit(p), its standard deviation
        sqrt(p (1 - p)) |logit(p)|.
        """
        if observed.size == 0:
            return np.zeros(len(OUTCOMES))
        present, absent = evidence.present[observed], evidence.absent[observed]
        weak = np.minimum(present, absent)[:, None]
        theta = self._theta_mean[observed]
        p_present = (theta + (1 - theta) * weak) / (1 + weak)  # (V, K)
        log_odds = _logit(p_present)
        direction = (present >= absent)[:, None]
        deviation = ((direction - p_present) * log_odds).sum(axis=0)
        sd = np.sqrt(p_present * (1 - p_present)) * np.abs(log_odds)
        group_sd = self._membership[observed].T @ sd  # summed sd per group, (C, K)
        variance = (1 - correlation) * (sd**2).sum(axis=0) + correlation * (group_sd**2).sum(axis=0)
        return np.asarray(deviation / np.sqrt(variance + 1e-12))


@dataclass(frozen=True)
class _Draws:
    """Posterior draws laid out for forecasting: indicator-major theta (J, K, S) with its logs,
    and log pi (K, S), all contiguous so that every step is a pass over contiguous draws."""

    theta: np.ndarray
    log_theta: np.ndarray
    log_not_theta: np.ndarray
    log_pi: np.ndarray

    @classmethod
    def of(cls, theta: np.ndarray, pi: np.ndarray) -> _Draws:
        """From theta (draw, indicator, outcome) and pi (draw, outcome)."""
        layout = np.ascontiguousarray(theta.transpose(1, 2, 0), dtype=DRAW_DTYPE)
        log_pi = np.ascontiguousarray(np.log(pi).T, dtype=DRAW_DTYPE)
        return cls(layout, np.log(layout), np.log1p(-layout), log_pi)


@dataclass(frozen=True)
class _State:
    """The per-forecast arrays that the forecast and its explanations share."""

    draws: _Draws
    correlation: float
    observed: np.ndarray  # indices of indicators with evidence, (V,)
    group_bounds: np.ndarray  # group c's observed indicators are observed[bounds[c]:bounds[c+1]]
    strength: np.ndarray  # (J,)
    group_strength: np.ndarray  # (C,)
    group_weight: np.ndarray  # (C,)
    factors: np.ndarray  # P(evidence on j | k, draw) for observed j, (V, K, S)
    log_groups: np.ndarray  # log of the product of each group's factors, (C, K, S)
    log_joint: np.ndarray  # log P(k, evidence | draw), tempered, (K, S)

    def thinned(self, draws: _Draws, thin: slice) -> _State:
        """This state on a subset of its draws, copied contiguous (one copy is cheaper than
        recomputing, and than working on strided views)."""
        return dataclasses.replace(
            self,
            draws=draws,
            factors=np.ascontiguousarray(self.factors[:, :, thin]),
            log_groups=np.ascontiguousarray(self.log_groups[:, :, thin]),
            log_joint=np.ascontiguousarray(self.log_joint[:, thin]),
        )


def _product(rows: np.ndarray, out: np.ndarray) -> None:
    """The product of `rows` (a few (K, S) blocks) into `out`; 1 for none. Binary multiplies:
    np.prod over a short leading axis measured twice as slow."""
    if len(rows) == 0:
        out.fill(1.0)
        return
    np.copyto(out, rows[0])
    for row in rows[1:]:
        out *= row


def _logsumexp(values: np.ndarray, axis: int | tuple[int, ...] | None) -> np.ndarray:
    top = np.max(values, axis=axis, keepdims=True)
    total = np.log(np.sum(np.exp(values - top), axis=axis, keepdims=True)) + top
    return np.asarray(np.squeeze(total, axis=axis) if axis is not None else total.reshape(()))


def _variant_means(log_joint: np.ndarray) -> np.ndarray:
    """Outcome probabilities for a stack of log joints (V, K, S), exactly as `predict` does."""
    scaled = np.exp(log_joint - log_joint.max(axis=(1, 2), keepdims=True))
    totals = scaled.sum(axis=2)
    return np.asarray(totals / totals.sum(axis=1, keepdims=True))


def _weighted_interval(
    values: np.ndarray, weights: np.ndarray, qs: tuple[float, float]
) -> np.ndarray:
    """Weighted quantiles `qs` of each row of `values` (K, S) under draw weights (S,): (K, 2).

    Systematic resampling turns the weighted draws into an equally weighted sample (each draw
    repeated about S * weight times, deterministically), whose plain quantiles are found by
    partial sorting. Its error is O(1 / S) in rank, the same order as the weighted estimator's;
    sorting every row with its weights instead took half of a forecast's time.
    """
    # Draw s is repeated as often as the grid (i + 0.5) / n falls in its share of the weight
    # (truncating a positive number is flooring it).
    boundaries = (np.cumsum(weights) * weights.size + 0.5).astype(np.intp)
    resampled = np.repeat(values, np.diff(boundaries, prepend=0), axis=1)
    low, high, fraction = _order_statistics(resampled.shape[1], qs)
    ordered = np.partition(resampled, np.union1d(low, high), axis=1)
    lower = ordered[:, low]
    return np.asarray(lower + fraction * (ordered[:, high] - lower))


@cache
def _order_statistics(n: int, qs: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quantiles `qs` of n sorted values as np.quantile takes them: the ranks either side of
    each quantile and the interpolation fraction between them."""
    positions = np.asarray(qs) * (n - 1)
    low = np.floor(positions).astype(np.intp)
    return low, np.minimum(low + 1, n - 1), positions - low


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    return np.asarray(np.log(clipped) - np.log1p(-clipped))


def _entropy_bits(p: np.ndarray) -> np.ndarray:
    """Entropy in bits along the last axis."""
    safe = np.clip(p, 1e-300, 1.0)
    return np.asarray(-(p * np.log2(safe)).sum(axis=-1))
