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

Draws are held indicator-major, (J, 2, S) and (C, K, S), so that every step is a pass over
contiguous draws, in single precision (`DRAW_DTYPE`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np

from models.catalog import KINDS, OUTCOMES, Catalog
from models.contract import SURPRISE_Z
from models.evidence import Evidence
from models.psis import pareto_k

INTERVAL = (0.05, 0.95)
"""Quantiles of the reported credible interval (90%)."""

BASE_RATE_QUANTILES = (0.05, 0.95)
"""The plausible range of a base rate: these quantiles of the kind's population prior."""

DRAW_DTYPE = np.float32
"""Precision of the draws and of the per-draw arithmetic.

Single precision rounds at ~1e-7, five orders below the Monte Carlo error of 4,000 draws (~1e-2),
and halves the memory a forecast streams through. Sums over draws are taken in double."""

MIN_SURPRISE_INDICATORS = 3
"""Below this many observed indicators the surprise test has too little to go on."""

EXPLANATION_DRAWS = 500
"""Contributions use an evenly thinned subset of this many draws (both sides of each comparison,
with and without an indicator, on the same draws). Value of information uses every draw, so that
its two branches average exactly to the forecast served."""

FIXED_PROBABILITY_FLOOR = 1e-6
"""Draws are clipped into (floor, 1 - floor): a probability of exactly 0 or 1 would make a report
on that indicator impossible under some outcome (and a log of zero)."""


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


class BaseRateShift(NamedTuple):
    """The forecast if one outcome's base rate were `base_rate` (the others keeping their
    proportions): how much of the forecast is the prior's."""

    outcome: str
    base_rate: float
    probabilities: dict[str, float]


class Prior(NamedTuple):
    """The outcome prior a forecast uses: its case kind's population prior (the catalog's
    Dirichlet), or probabilities fixed by an analyst (`source` says whose)."""

    kind: str
    source: str = "catalog"  # catalog | case | scenario
    fixed: tuple[float, ...] | None = None


class PriorUsed(NamedTuple):
    """The prior as a forecast names it: its kind, whose it is, its mean, and (for the
    catalog's population prior) its pseudo-counts."""

    kind: str
    source: str
    probabilities: dict[str, float]
    pseudo_counts: dict[str, float] | None


@dataclass(frozen=True)
class Forecast:
    """A forecast: probabilities with intervals, why (contributions), what next (value of
    information), whether the reports fit any outcome (surprise), how far the draws had to be
    reweighted for this case (Pareto k, effective draws out of `draws`), the prior it used,
    the likelihood ratio of all its evidence against `no_entry`, and how it moves with the base
    rates."""

    probabilities: tuple[OutcomeProbability, ...]
    contributions: tuple[Contribution, ...]  # largest effect first
    value_of_information: tuple[InformationValue, ...]  # most valuable first
    surprise: bool
    surprise_z: dict[str, float]
    pareto_k: float
    effective_draws: float
    draws: int
    prior: PriorUsed
    evidence_ratios: dict[str, float]
    base_rates: tuple[BaseRateShift, ...]

    def mean(self, outcome: str) -> float:
        return next(p.mean for p in self.probabilities if p.outcome == outcome)

    def means(self) -> np.ndarray:
        return np.array([p.mean for p in self.probabilities])


@dataclass(frozen=True)
class ModelDraws:
    """Posterior draws of the evidence model and the population priors.

    theta: P(indicator present | its group's state off, on), (draw, indicator, 2);
    phi: P(group state on | outcome), (draw, group, outcome);
    pi: per case kind, draws of its population prior, (draw, outcome)."""

    theta: np.ndarray
    phi: np.ndarray
    pi: Mapping[str, np.ndarray]

    @property
    def size(self) -> int:
        return int(self.theta.shape[0])


def marginal_likelihoods(draws: ModelDraws, group_of: np.ndarray) -> np.ndarray:
    """P(indicator present | outcome) in each draw, the group's state summed out:
    theta_off + (theta_on - theta_off) * phi, shape (draw, indicator, outcome)."""
    off, on = draws.theta[:, :, :1], draws.theta[:, :, 1:]
    return np.asarray(off + (on - off) * draws.phi[:, group_of, :])


class Predictor:
    """Forecasts from posterior draws. Pure: safe to share between threads."""

    def __init__(self, catalog: Catalog, draws: ModelDraws) -> None:
        n_draws, n_indicators, _ = draws.theta.shape
        n_groups = len(catalog.groups)
        if n_indicators != len(catalog.ids) or draws.phi.shape != (n_draws, n_groups, 3):
            raise ValueError("draws do not match the catalog")
        if set(draws.pi) != set(KINDS) or any(
            pi.shape != (n_draws, len(OUTCOMES)) for pi in draws.pi.values()
        ):
            raise ValueError("population prior draws do not match the catalog's kinds")
        self.catalog = catalog
        self.draws = n_draws
        # Indicators are held sorted by group, so that a group's evidence is a contiguous slice.
        self._order = np.argsort(catalog.group_of, kind="stable")
        self._ids = tuple(catalog.ids[j] for j in self._order)
        self._group = catalog.group_of[self._order]
        self._n_groups = n_groups
        self._applicable: dict[str, np.ndarray] = {
            kind: catalog.applicable(kind)[self._order] for kind in KINDS
        }
        low, high = FIXED_PROBABILITY_FLOOR, 1 - FIXED_PROBABILITY_FLOOR
        theta = np.clip(draws.theta[:, self._order, :], low, high)
        phi = np.clip(draws.phi, low, high)
        self._theta = np.ascontiguousarray(theta.transpose(1, 2, 0), dtype=DRAW_DTYPE)  # J,2,S
        self._phi = np.ascontiguousarray(phi.transpose(1, 2, 0), dtype=DRAW_DTYPE)  # C,K,S
        self._log_pi = {
            kind: np.ascontiguousarray(np.log(pi).T, dtype=DRAW_DTYPE)
            for kind, pi in draws.pi.items()
        }
        self._pi_mean = {kind: pi.mean(axis=0) for kind, pi in draws.pi.items()}
        self._base_rate_priors = {kind: _base_rate_priors(pi) for kind, pi in draws.pi.items()}
        sorted_draws = ModelDraws(theta, phi, draws.pi)
        marginal = marginal_likelihoods(sorted_draws, self._group)
        self._marginal_mean = marginal.mean(axis=0)  # (J, K)
        # Within a group, under the mean parameters, Cov(x_j, x_j' | k) = L_jk L_j'k for j != j'.
        gap = (theta[:, :, 1] - theta[:, :, 0]).mean(axis=0)
        phi_mean = phi.mean(axis=0)[self._group]
        self._loading = gap[:, None] * np.sqrt(phi_mean * (1 - phi_mean))  # (J, K)
        self._thin = slice(None, None, max(1, n_draws // EXPLANATION_DRAWS))
        self._phi_thin = np.ascontiguousarray(self._phi[:, :, self._thin])
        self._no_fixed_rows = np.zeros((n_indicators, len(OUTCOMES)))
        self._no_fixed_rows.flags.writeable = False
        self._none_fixed = np.zeros(n_indicators, dtype=bool)
        self._membership = np.eye(n_groups)[self._group]  # (J, C) one-hot
        # The catalog's priors as forecasts name them: built once, they never change.
        self._catalog_priors: dict[str, PriorUsed] = {
            kind: PriorUsed(
                kind,
                "catalog",
                _per_outcome(self._pi_mean[kind]),
                _per_outcome(catalog.prior_counts(kind)),
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
        top = float(state.log_joint.max())
        joint = np.exp(state.log_joint.astype(np.float64) - top)  # (K, S)
        totals = joint.sum(axis=0)  # P(evidence | draw), scaled
        means = joint.sum(axis=1) / totals.sum()
        draw_weights = totals / totals.sum()
        log_evidence = np.log(totals) + top  # log P(evidence | draw), (S,)
        per_draw = (joint / totals).astype(DRAW_DTYPE)  # P(k | evidence, draw)
        bounds = _weighted_interval(per_draw, draw_weights, INTERVAL)
        probabilities = tuple(
            OutcomeProbability(outcome, float(means[k]), float(bounds[k, 0]), float(bounds[k, 1]))
            for k, outcome in enumerate(OUTCOMES)
        )
        z = self._surprise_z(state)
        contributions: tuple[Contribution, ...] = ()
        information: tuple[InformationValue, ...] = ()
        if explain:
            contributions = self._contributions(state)
            information = self._information(state, joint, means)
        # P(evidence | k) up to a common factor, the draws' mean (single precision is enough for
        # likelihood ratios and base-rate rows, to ~1e-7).
        log_likelihood = state.log_likelihood
        evidence_likelihood = np.exp(log_likelihood - log_likelihood.max()).mean(axis=1)
        return Forecast(
            probabilities=probabilities,
            contributions=contributions,
            value_of_information=information,
            surprise=state.observed.size >= MIN_SURPRISE_INDICATORS
            and bool(np.max(z) < SURPRISE_Z),
            surprise_z=_per_outcome(z),
            pareto_k=pareto_k(log_evidence),
            effective_draws=float(1.0 / np.sum(draw_weights**2)),
            draws=self.draws,
            prior=self._prior_used(prior),
            evidence_ratios=_per_outcome(evidence_likelihood / evidence_likelihood[0]),
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
        log_joint = self._state(evidence, prior, None).log_joint.astype(np.float64)
        if log_draw_weights is not None:
            log_joint = log_joint + log_draw_weights
        return _normalized_sums(log_joint)

    # -- the forecast's arrays -------------------------------------------------------------

    def _state(
        self, evidence: Evidence, prior: Prior, fixed: Mapping[str, np.ndarray] | None
    ) -> _State:
        present = evidence.present[self._order]
        absent = evidence.absent[self._order]
        applicable = self._applicable[prior.kind]
        fixed_rows = self._fixed_rows(fixed)
        is_fixed = fixed_rows.any(axis=1) if fixed else self._none_fixed
        strength = np.where(applicable, evidence.strength[self._order], 0.0)
        observed = np.flatnonzero((strength > 0) & ~is_fixed)  # sorted by group
        theta = self._theta if observed.size == len(self._ids) else self._theta[observed]
        f = theta * (present - absent)[observed, None, None].astype(DRAW_DTYPE)
        f += absent[observed, None, None].astype(DRAW_DTYPE)  # P(reports on j | state), (V,2,S)
        groups = self._group[observed]
        bounds = np.searchsorted(groups, np.arange(self._n_groups + 1))
        with_evidence = np.flatnonzero(np.diff(bounds) > 0)
        products = np.empty((with_evidence.size, 2, self.draws), DRAW_DTYPE)  # (Ce, 2, S)
        for row, group in enumerate(with_evidence):
            _product(f[bounds[group] : bounds[group + 1]], out=products[row])
        # P(group's reports | k) = P(off | k) * product off + P(on | k) * product on, built in
        # one buffer: off + phi * (on - off).
        group_terms = np.multiply(
            self._phi[with_evidence], (products[:, 1] - products[:, 0])[:, None, :]
        )
        group_terms += products[:, None, 0, :]
        log_groups = np.log(group_terms, out=group_terms)  # log P(group's reports | k), (Ce,K,S)
        log_likelihood = log_groups.sum(axis=0)
        fixed_observed = np.flatnonzero(is_fixed & (strength > 0))
        fixed_factors = _NO_FACTORS
        if fixed_observed.size:
            # Fixed indicators depend on the outcome only: one factor per outcome, every draw.
            fixed_factors = (
                fixed_rows[fixed_observed] * (present - absent)[fixed_observed, None]
                + absent[fixed_observed, None]
            )  # (Vf, K)
            log_likelihood += np.log(fixed_factors).sum(axis=0)[:, None].astype(DRAW_DTYPE)
        log_pi = (
            self._log_pi[prior.kind]
            if prior.fixed is None
            else np.log(np.asarray(prior.fixed, dtype=DRAW_DTYPE))[:, None]
        )
        return _State(
            present=present,
            absent=absent,
            strength=strength,
            applicable=applicable,
            fixed_rows=fixed_rows,
            observed=observed,
            f=f,
            with_evidence=with_evidence,
            products=products,
            log_groups=log_groups,
            fixed_observed=fixed_observed,
            fixed_factors=fixed_factors,
            log_likelihood=log_likelihood,
            log_joint=log_pi + log_likelihood,
        )

    def _fixed_rows(self, fixed: Mapping[str, np.ndarray] | None) -> np.ndarray:
        """Fixed P(present | outcome) per indicator in group order, 0 where not fixed, (J, K)."""
        if not fixed:
            return self._no_fixed_rows
        rows = np.zeros((len(self._ids), len(OUTCOMES)))
        for indicator, likelihood in fixed.items():
            j = int(np.flatnonzero(self._order == self.catalog.position[indicator])[0])
            rows[j] = likelihood
        return rows

    # -- explanations ----------------------------------------------------------------------

    def _contributions(self, state: _State) -> tuple[Contribution, ...]:
        """Leave each observed indicator's reports out, exactly, and compare log-odds (on the
        thinned draws, both sides alike).

        Without indicator j only its group's term changes, so P(k, evidence without j) is the
        joint times the ratio of the group's term without j to its term with it: sums of
        products, no logarithm or exponential per variant."""
        if state.observed.size == 0 and state.fixed_observed.size == 0:
            return ()
        thin = self._thin
        log_joint = state.log_joint[:, thin]
        joint = np.exp(log_joint - log_joint.max())  # scaled P(k, evidence | draw), (K, S_thin)
        variants = []
        if state.observed.size:
            group_row = np.searchsorted(state.with_evidence, self._group[state.observed])
            products = np.ascontiguousarray(state.products[:, :, thin])
            phi = self._phi_thin[state.with_evidence]  # (Ce, K, S_thin)
            with_j = products[:, None, 0] + phi * (products[:, None, 1] - products[:, None, 0])
            # The group's product without j, per state: j's factor divided out (every factor
            # is a probability mixture of positive terms, far from zero).
            without = products[group_row] / state.f[:, :, thin]
            ratio = phi[group_row] * (without[:, None, 1] - without[:, None, 0])
            ratio += without[:, None, 0]
            ratio /= with_j[group_row]
            ratio *= joint
            variants.append(ratio.sum(axis=2, dtype=np.float64))  # (V, K)
        if state.fixed_observed.size:
            totals = joint.sum(axis=1, dtype=np.float64)
            variants.append(totals[None] / state.fixed_factors)
        sums = np.vstack([joint.sum(axis=1, dtype=np.float64), *variants])
        logits = _logit(sums / sums.sum(axis=1, keepdims=True))
        effect = logits[:1] - logits[1:]
        ids = [*state.observed.tolist(), *state.fixed_observed.tolist()]
        order = np.argsort(-np.abs(effect).max(axis=1), kind="stable")
        values = effect.tolist()
        return tuple(
            Contribution(self._ids[ids[v]], _per_outcome(values[v])) for v in order.tolist()
        )

    def _information(
        self, state: _State, joint: np.ndarray, means: np.ndarray
    ) -> tuple[InformationValue, ...]:
        """Expected entropy reduction from learning each unobserved indicator's true state, with
        P(outcome | present) and P(outcome | absent) from the same joint distribution and draws
        as the forecast: P(present) * if_present + P(absent) * if_absent = the forecast."""
        unobserved = np.flatnonzero(state.applicable & (state.strength == 0))
        if unobserved.size == 0:
            return ()
        outcome_mass = joint.sum(axis=1)  # P(k, evidence), scaled as the forecast's
        total = outcome_mass.sum()
        with_present = np.empty((unobserved.size, len(OUTCOMES)))  # P(k, evidence, present)
        fixed = state.fixed_rows[unobserved].any(axis=1)
        with_present[fixed] = outcome_mass[None] * state.fixed_rows[unobserved[fixed]]
        latent = unobserved[~fixed]
        for group in np.unique(self._group[latent]):
            members = latent[self._group[latent] == group]
            rows = np.flatnonzero(np.isin(unobserved, members))
            with_present[rows] = self._with_present(state, joint, int(group), members)
        p_present = with_present.sum(axis=1) / total
        if_present = with_present / with_present.sum(axis=1, keepdims=True)
        if_absent = (outcome_mass[None] - with_present) / (total - with_present.sum(axis=1))[
            :, None
        ]
        expected = p_present * _entropy_bits(if_present) + (1 - p_present) * _entropy_bits(
            if_absent
        )
        gain = np.maximum(_entropy_bits(means) - expected, 0.0)
        rows_out = [
            InformationValue(
                self._ids[j],
                float(gain[v]),
                float(p_present[v]),
                _per_outcome(if_present[v].tolist()),
                _per_outcome(if_absent[v].tolist()),
            )
            for v, j in enumerate(unobserved.tolist())
        ]
        return tuple(sorted(rows_out, key=lambda row: -row.bits))

    def _with_present(
        self, state: _State, joint: np.ndarray, group: int, members: np.ndarray
    ) -> np.ndarray:
        """P(k, evidence, j present) for unobserved indicators j of one group, (U, K): the
        joint with the group's term split by its state, times P(j present | state)."""
        phi = self._phi[group].astype(np.float64)  # (K, S)
        split = np.stack([1.0 - phi, phi], axis=1)  # P(state | k), (K, 2, S)
        row = np.searchsorted(state.with_evidence, group)
        if row < state.with_evidence.size and state.with_evidence[row] == group:
            products = state.products[row].astype(np.float64)  # (2, S)
            rest = joint / np.exp(state.log_groups[row].astype(np.float64))
            split = split * products[None]
        else:
            rest = joint
        by_state = rest[:, None, :] * split  # P(k, state, evidence), (K, 2, S)
        theta = self._theta[members].astype(np.float64)  # (U, 2, S)
        flat = by_state.reshape(len(OUTCOMES), -1)
        return np.asarray(theta.reshape(members.size, -1) @ flat.T)

    def _surprise_z(self, state: _State) -> np.ndarray:
        """Per outcome, how atypical the direction of the evidence is (z-score, posterior mean).

        Each observed indicator's evidence points one way with some strength; under outcome k it
        points 'present' with probability q = (p + (1 - p) e) / (1 + e), p = P(present | k) and
        e the weaker side's likelihood. The log-probability of the observed directions is
        compared with its mean and variance under k. Indicators of one group covary through
        their state: Cov(x_j, x_j' | k) = L_jk L_j'k under the mean parameters, attenuated for
        the directions by (1 - e) / (1 + e) on each side.
        """
        observed = state.observed
        if observed.size == 0:
            return np.zeros(len(OUTCOMES))
        present, absent = state.present[observed], state.absent[observed]
        weak = np.minimum(present, absent)[:, None]
        p = self._marginal_mean[observed]
        q = (p + (1 - p) * weak) / (1 + weak)  # (V, K)
        log_odds = _logit(q)
        direction = (present >= absent)[:, None]
        deviation = ((direction - q) * log_odds).sum(axis=0)
        own = (q * (1 - q) * log_odds**2).sum(axis=0)
        shared = self._loading[observed] * (1 - weak) / (1 + weak) * log_odds  # (V, K)
        membership = self._membership[observed]  # (V, C)
        within = ((membership.T @ shared) ** 2).sum(axis=0) - (shared**2).sum(axis=0)
        return np.asarray(deviation / np.sqrt(np.maximum(own + within, 0.0) + 1e-12))

    # -- priors ----------------------------------------------------------------------------

    def _prior_used(self, prior: Prior) -> PriorUsed:
        if prior.fixed is not None:
            return PriorUsed(prior.kind, prior.source, _per_outcome(list(prior.fixed)), None)
        used = self._catalog_priors[prior.kind]
        return used if used.source == prior.source else used._replace(source=prior.source)

    def _base_rates(self, kind: str, likelihood: np.ndarray) -> tuple[BaseRateShift, ...]:
        """The forecast under each outcome's base rate at the ends of its plausible range,
        with a fixed prior: P(k | evidence) is then prior_k * P(evidence | k), normalized."""
        outcomes, rates, priors = self._base_rate_priors[kind]
        posteriors = priors * likelihood
        posteriors /= posteriors.sum(axis=1, keepdims=True)
        return tuple(
            BaseRateShift(outcome, rate, _per_outcome(row))
            for outcome, rate, row in zip(outcomes, rates, posteriors.tolist(), strict=True)
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


@dataclass(frozen=True)
class _State:
    """The per-forecast arrays that the forecast and its explanations share (group order)."""

    present: np.ndarray  # (J,)
    absent: np.ndarray  # (J,)
    strength: np.ndarray  # (J,), 0 where not applicable
    applicable: np.ndarray  # (J,) bool
    fixed_rows: np.ndarray  # (J, K), fixed likelihoods, 0 where not fixed
    observed: np.ndarray  # indicators with evidence, in their groups, (V,)
    f: np.ndarray  # P(reports on j | state), (V, 2, S)
    with_evidence: np.ndarray  # groups with evidence, (Ce,)
    products: np.ndarray  # P(group's reports | state), (Ce, 2, S)
    log_groups: np.ndarray  # log P(group's reports | k), (Ce, K, S)
    fixed_observed: np.ndarray  # fixed indicators with evidence, (Vf,)
    fixed_factors: np.ndarray  # P(reports on j | k), (Vf, K)
    log_likelihood: np.ndarray  # log P(evidence | k, draw), (K, S)
    log_joint: np.ndarray  # log P(k, evidence | draw), (K, S)


_NO_FACTORS = np.empty((0, len(OUTCOMES)))


def _per_outcome(values: list[float] | np.ndarray) -> dict[str, float]:
    """{outcome: value}; a forecast builds a few dozen, so lists of floats pass through as
    they are (a comprehension calling float() on each value measured 2 us a call, thrice this)."""
    listed = values.tolist() if isinstance(values, np.ndarray) else values
    return dict(zip(OUTCOMES, listed, strict=True))


def _product(rows: np.ndarray, out: np.ndarray) -> None:
    """The product of `rows` (a few (2, S) blocks) into `out`. Binary multiplies: np.prod
    over a short leading axis measured twice as slow, np.multiply.reduceat over all the groups
    at once slower still."""
    np.copyto(out, rows[0])
    for row in rows[1:]:
        out *= row


def _normalized_sums(log_joint: np.ndarray) -> np.ndarray:
    """Outcome probabilities from a log joint (K, S): sum over draws, normalize over outcomes."""
    totals = np.exp(log_joint - log_joint.max()).sum(axis=1, dtype=np.float64)
    return np.asarray(totals / totals.sum())


def _weighted_interval(
    values: np.ndarray, weights: np.ndarray, qs: tuple[float, float]
) -> np.ndarray:
    """Weighted quantiles `qs` of each row of `values` (K, S) under draw weights (S,): (K, 2).

    Systematic resampling turns the weighted draws into an equally weighted sample (each draw
    repeated about S * weight times, deterministically), whose plain quantiles are read off a
    sort. Its error is O(1 / S) in rank, the same order as the weighted estimator's. (A full
    sort of 3 x 4,000 values measured 27 us here, np.partition at the four ranks 141 us.)
    """
    # Draw s is repeated as often as the grid (i + 0.5) / n falls in its share of the weight
    # (truncating a positive number is flooring it).
    boundaries = (np.cumsum(weights) * weights.size + 0.5).astype(np.intp)
    resampled = np.repeat(values, np.diff(boundaries, prepend=0), axis=1)
    low, high, fraction = _order_statistics(resampled.shape[1], qs)
    ordered = np.sort(resampled, axis=1)
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
