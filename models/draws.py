"""Posterior draws, and the layout the forecast's arithmetic reads them in.

Draws are held indicator-major, (J, 2, S) and (C, K, S), so that every step is a pass over
contiguous draws, in single precision (`DRAW_DTYPE`). Indicators are held sorted by group, so
that a group's evidence is a contiguous slice. `DrawLayout.state` computes, for one set of
reports, the arrays that the probabilities (`models.predict`), the explanations
(`models.explain`) and the surprise test (`models.surprise`) all read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from models.catalog import KINDS, OUTCOMES, Catalog
from models.evidence import Evidence

DRAW_DTYPE = np.float32
"""Precision of the draws and of the per-draw arithmetic.

Single precision rounds at ~1e-7, five orders below the Monte Carlo error of 4,000 draws (~1e-2),
and halves the memory a forecast streams through. Sums over draws are taken in double, except the
value of information's: its branches average to the forecast by construction (`models.explain`)."""

EXPLANATION_DRAWS = 500
"""Contributions use an evenly thinned subset of this many draws (both sides of each comparison,
with and without an indicator, on the same draws). Value of information uses every draw, so that
its two branches average exactly to the forecast served."""

FIXED_PROBABILITY_FLOOR = 1e-6
"""Draws are clipped into (floor, 1 - floor): a probability of exactly 0 or 1 would make a report
on that indicator impossible under some outcome (and a log of zero)."""


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


@dataclass(frozen=True)
class EvidenceState:
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
    group_terms: np.ndarray  # P(group's reports | k), (Ce, K, S)
    fixed_observed: np.ndarray  # fixed indicators with evidence, (Vf,)
    fixed_factors: np.ndarray  # P(reports on j | k), (Vf, K)
    log_likelihood: np.ndarray  # log P(evidence | k, draw), (K, S)
    log_joint: np.ndarray  # log P(k, evidence | draw), (K, S)


_NO_FACTORS = np.empty((0, len(OUTCOMES)))


class DrawLayout:
    """The draws of one artifact, arranged for the forecast's arithmetic (built once)."""

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
        self.order = np.argsort(catalog.group_of, kind="stable")
        self.ids = tuple(catalog.ids[j] for j in self.order)
        self.group = catalog.group_of[self.order]
        self.n_groups = n_groups
        self.applicable: dict[str, np.ndarray] = {
            kind: catalog.applicable(kind)[self.order] for kind in KINDS
        }
        low, high = FIXED_PROBABILITY_FLOOR, 1 - FIXED_PROBABILITY_FLOOR
        theta = np.clip(draws.theta[:, self.order, :], low, high)
        phi = np.clip(draws.phi, low, high)
        self.theta = np.ascontiguousarray(theta.transpose(1, 2, 0), dtype=DRAW_DTYPE)  # J,2,S
        self.phi = np.ascontiguousarray(phi.transpose(1, 2, 0), dtype=DRAW_DTYPE)  # C,K,S
        self.log_pi = {
            kind: np.ascontiguousarray(np.log(pi).T, dtype=DRAW_DTYPE)
            for kind, pi in draws.pi.items()
        }
        marginal = marginal_likelihoods(ModelDraws(theta, phi, draws.pi), self.group)
        self.marginal_mean = marginal.mean(axis=0)  # (J, K)
        # P(present | k) per draw, outcome-major, (K, J, S): the value of information's
        self.marginal = np.ascontiguousarray(marginal.transpose(2, 1, 0), dtype=DRAW_DTYPE)
        # Within a group, under the mean parameters, Cov(x_j, x_j' | k) = L_jk L_j'k for j != j'.
        gap = (theta[:, :, 1] - theta[:, :, 0]).mean(axis=0)
        phi_mean = phi.mean(axis=0)[self.group]
        self.loading = gap[:, None] * np.sqrt(phi_mean * (1 - phi_mean))  # (J, K)
        self.thin = slice(None, None, max(1, n_draws // EXPLANATION_DRAWS))
        self.phi_thin = np.ascontiguousarray(self.phi[:, :, self.thin])
        self.theta_gap = self.theta[:, 1] - self.theta[:, 0]  # on's step up from off, (J, S)
        self.membership = np.eye(n_groups)[self.group]  # (J, C) one-hot
        self._no_fixed_rows = np.zeros((n_indicators, len(OUTCOMES)))
        self._no_fixed_rows.flags.writeable = False
        self._none_fixed = np.zeros(n_indicators, dtype=bool)
        self._group_edges = np.arange(n_groups + 1)

    def state(
        self,
        evidence: Evidence,
        kind: str,
        fixed_prior: tuple[float, ...] | None,
        fixed: Mapping[str, np.ndarray] | None,
    ) -> EvidenceState:
        """The arrays of one forecast: per draw, P(reports | outcome) group by group, under the
        case kind's population prior (or `fixed_prior`), with the likelihoods in `fixed`."""
        # A forecast pays per numpy call as much as per draw: the calls below are methods and
        # ufuncs, not their Python-level wrappers (np.where, np.flatnonzero, np.diff).
        present = evidence.present[self.order]
        absent = evidence.absent[self.order]
        gap = present - absent
        applicable = self.applicable[kind]
        fixed_rows = self._fixed_rows(fixed)
        is_fixed = fixed_rows.any(axis=1) if fixed else self._none_fixed
        strength = np.abs(gap) / (present + absent) * applicable  # Evidence.strength, applicable
        with_strength = strength > 0
        observed = (with_strength & ~is_fixed).nonzero()[0]  # sorted by group
        theta = self.theta if observed.size == len(self.ids) else self.theta[observed]
        f = theta * gap[observed, None, None].astype(DRAW_DTYPE)
        f += absent[observed, None, None].astype(DRAW_DTYPE)  # P(reports on j | state), (V,2,S)
        bounds = self.group[observed].searchsorted(self._group_edges)
        with_evidence = (bounds[1:] > bounds[:-1]).nonzero()[0]
        products = np.empty((with_evidence.size, 2, self.draws), DRAW_DTYPE)  # (Ce, 2, S)
        starts = bounds.tolist()
        for row, group in enumerate(with_evidence.tolist()):
            _product(f[starts[group] : starts[group + 1]], out=products[row])
        # P(group's reports | k) = P(off | k) * product off + P(on | k) * product on, built in
        # one buffer: off + phi * (on - off).
        phi = self.phi if with_evidence.size == self.n_groups else self.phi[with_evidence]
        group_terms = phi * (products[:, 1] - products[:, 0])[:, None, :]
        group_terms += products[:, None, 0, :]
        log_likelihood = _log_of_product(group_terms)  # log P(evidence | k), (K, S)
        fixed_observed = (with_strength & is_fixed).nonzero()[0]
        fixed_factors = _NO_FACTORS
        if fixed_observed.size:
            # Fixed indicators depend on the outcome only: one factor per outcome, every draw.
            fixed_factors = (
                fixed_rows[fixed_observed] * (present - absent)[fixed_observed, None]
                + absent[fixed_observed, None]
            )  # (Vf, K)
            log_likelihood += np.log(fixed_factors).sum(axis=0)[:, None].astype(DRAW_DTYPE)
        log_pi = (
            self.log_pi[kind]
            if fixed_prior is None
            else np.log(np.asarray(fixed_prior, dtype=DRAW_DTYPE))[:, None]
        )
        return EvidenceState(
            present=present,
            absent=absent,
            strength=strength,
            applicable=applicable,
            fixed_rows=fixed_rows,
            observed=observed,
            f=f,
            with_evidence=with_evidence,
            products=products,
            group_terms=group_terms,
            fixed_observed=fixed_observed,
            fixed_factors=fixed_factors,
            log_likelihood=log_likelihood,
            log_joint=log_pi + log_likelihood,
        )

    def _fixed_rows(self, fixed: Mapping[str, np.ndarray] | None) -> np.ndarray:
        """Fixed P(present | outcome) per indicator in group order, 0 where not fixed, (J, K)."""
        if not fixed:
            return self._no_fixed_rows
        rows = np.zeros((len(self.ids), len(OUTCOMES)))
        for indicator, likelihood in fixed.items():
            j = int(np.flatnonzero(self.order == self.catalog.position[indicator])[0])
            rows[j] = likelihood
        return rows


def _product(rows: np.ndarray, out: np.ndarray) -> None:
    """The product of `rows` (a few blocks of one shape) into `out`. Binary multiplies: np.prod
    over a short leading axis measured twice as slow, np.multiply.reduceat over all the groups
    at once slower still."""
    if len(rows) == 1:
        np.copyto(out, rows[0])
        return
    np.multiply(rows[0], rows[1], out=out)
    for row in rows[2:]:
        out *= row


_SMALLEST_NORMAL = np.finfo(DRAW_DTYPE).smallest_normal


def _log_of_product(terms: np.ndarray) -> np.ndarray:
    """The log of the product of `terms` (Ce, K, S) over its first axis, each a probability:
    one logarithm per outcome and draw instead of one per group (the logarithm was the
    costliest pass of a forecast). Where the product would leave the normal range of single
    precision (every partial product is at least the whole, since no term exceeds 1), the
    logarithms are summed instead."""
    if len(terms) == 0:
        return np.zeros(terms.shape[1:], DRAW_DTYPE)
    product = np.empty(terms.shape[1:], DRAW_DTYPE)
    _product(terms, out=product)
    if product.min() < _SMALLEST_NORMAL:
        return np.asarray(np.log(terms).sum(axis=0))
    return np.asarray(np.log(product))


def logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-12, 1 - 1e-12)
    return np.asarray(np.log(clipped) - np.log1p(-clipped))
