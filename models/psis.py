"""Pareto-smoothed importance sampling in numpy (Vehtari, Simpson, Gelman, Yao, Gabry 2024).

The serving path cannot import ArviZ, so this is the same algorithm as `arviz_stats`'s PSIS
(generalized Pareto fit by Zhang & Stephens 2009 with a weak prior on k); the tests check the
two agree. Pareto k above `models.contract.RELIABLE_K` means the importance weights are unreliable.
"""

from __future__ import annotations

from functools import cache

import numpy as np

_PRIOR_K_WEIGHT = 10.0  # pseudo-observations pulling k toward 0.5 (as in loo / ArviZ)
_PRIOR_K_CENTRE = 0.5


def psis(log_weights: np.ndarray) -> tuple[np.ndarray, float]:
    """Smooth the largest importance weights; return (smoothed log weights, Pareto k).

    Constant weights (no evidence) have no tail to fit: k is reported as 0. A tail too
    lumpy to fit (a quarter of it tied at its minimum) gives k = inf: do not trust the weights.
    """
    lw = np.asarray(log_weights, dtype=float) - np.max(log_weights)
    n = lw.size
    tail_len = _tail_length(n)
    # Only the tail needs sorting: partitioning first is several times faster than a full sort.
    parts = np.argpartition(lw, n - tail_len - 1)
    cutoff = float(lw[parts[n - tail_len - 1]])
    tail = parts[n - tail_len :]
    tail = tail[np.argsort(lw[tail])]
    fitted = _fit_tail(lw[tail], cutoff)
    if fitted is None:
        return lw, 0.0
    k, sigma = fitted
    if np.isfinite(k):
        quantiles = (np.arange(tail_len) + 0.5) / tail_len
        smoothed = np.log(_generalized_pareto_quantile(quantiles, k, sigma) + np.exp(cutoff))
        lw = lw.copy()
        lw[tail] = np.minimum(smoothed, 0.0)
    return lw, k


def pareto_k(log_weights: np.ndarray) -> float:
    """The Pareto k diagnostic of a set of importance weights (as `psis`, without smoothing:
    only the tail's values are needed, not where they sit)."""
    n = log_weights.size
    tail_len = _tail_length(n)
    parts = np.partition(np.asarray(log_weights, dtype=float), n - tail_len - 1)
    fitted = _fit_tail(np.sort(parts[n - tail_len :]), float(parts[n - tail_len - 1]))
    return 0.0 if fitted is None else fitted[0]


def _tail_length(n: int) -> int:
    return int(np.floor(3.0 * np.sqrt(n))) if n > 225 else n // 5


def _fit_tail(tail: np.ndarray, cutoff: float) -> tuple[float, float] | None:
    """(k, sigma) of the sorted log weights `tail` above `cutoff`; None when there is no
    tail to fit. Weights are scaled so that the largest is 1."""
    if tail.size < 5:
        return None
    top = tail[-1]
    exceedances = np.exp(tail - top) - np.exp(cutoff - top)
    if exceedances[-1] <= 1e-12:
        return None
    return _fit_generalized_pareto(exceedances)


@cache
def _grid_shape(n: int) -> np.ndarray:
    """The Zhang-Stephens grid for n exceedances, before scaling by the data."""
    grid_size = 30 + int(np.sqrt(n))
    return np.asarray(1.0 - np.sqrt(grid_size / (np.arange(1, grid_size + 1) - 0.5)))


def _fit_generalized_pareto(x: np.ndarray) -> tuple[float, float]:
    """Zhang-Stephens posterior-mean estimate of (k, sigma) for sorted exceedances `x`."""
    n = x.size
    first_quartile = x[int(n / 4 + 0.5) - 1]
    if first_quartile <= x[0]:
        return float("inf"), float("nan")
    b = _grid_shape(n) / (3.0 * first_quartile) + 1.0 / x[-1]
    # Means as sums over n (what .mean computes, without its per-call overhead). log(1 + y),
    # not log1p: numpy's log1p measured 1.6x slower, and every y here is above -1, where
    # 1 + y is off by at most half an ulp of 1 (an absolute error of ~1e-16 in each term).
    k_grid = np.log(1.0 + np.multiply.outer(-b, x)).sum(axis=1) / n
    profile = n * (np.log(-(b / k_grid)) - k_grid - 1.0)
    # The grid's posterior weights (a softmax); ArviZ drops those below 10 eps, which moves
    # b_post by less than that relative amount: not worth a pass here.
    weights = np.exp(profile - profile.max())
    b_post = float(b @ weights / weights.sum())
    k = float(np.log1p(-b_post * x).sum() / n)
    sigma = -k / b_post
    k = (n * k + _PRIOR_K_WEIGHT * _PRIOR_K_CENTRE) / (n + _PRIOR_K_WEIGHT)
    return k, sigma


def _generalized_pareto_quantile(p: np.ndarray, k: float, sigma: float) -> np.ndarray:
    if abs(k) < 1e-12:
        return -sigma * np.log1p(-p)
    return sigma * np.expm1(-k * np.log1p(-p)) / k
