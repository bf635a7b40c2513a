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
    fitted = _fit_tail(np.exp(lw[tail]), float(np.exp(cutoff)))  # the largest weight is 1
    if fitted is None:
        return lw, 0.0
    k, sigma = fitted
    if np.isfinite(k):
        quantiles = (np.arange(tail_len) + 0.5) / tail_len
        smoothed = np.log(_generalized_pareto_quantile(quantiles, k, sigma) + np.exp(cutoff))
        lw = lw.copy()
        lw[tail] = np.minimum(smoothed, 0.0)
    return lw, k


def pareto_k(weights: np.ndarray) -> float:
    """The Pareto k diagnostic of importance weights themselves (positive, on any common
    scale): what `psis` gives for their logarithms, without smoothing. Only the tail's values
    are needed, not where they sit, and no weight's logarithm."""
    n = weights.size
    tail_len = _tail_length(n)
    parts = np.partition(np.asarray(weights, dtype=float), n - tail_len - 1)
    top = parts.max()
    fitted = _fit_tail(np.sort(parts[n - tail_len :]) / top, float(parts[n - tail_len - 1] / top))
    return 0.0 if fitted is None else fitted[0]


def _tail_length(n: int) -> int:
    return int(np.floor(3.0 * np.sqrt(n))) if n > 225 else n // 5


def _fit_tail(tail: np.ndarray, cutoff: float) -> tuple[float, float] | None:
    """(k, sigma) of the sorted weights `tail` above `cutoff`, scaled so that the largest
    weight is 1; None when there is no tail to fit."""
    if tail.size < 5:
        return None
    exceedances = tail - cutoff
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
    k_grid = _grid_log_sums(b, x, x[-1] / first_quartile) / n
    profile = n * (np.log(-(b / k_grid)) - k_grid - 1.0)
    # The grid's posterior weights (a softmax); ArviZ drops those below 10 eps, which moves
    # b_post by less than that relative amount: not worth a pass here.
    weights = np.exp(profile - profile.max())
    b_post = float(b @ weights / weights.sum())
    k = float(np.log1p(-b_post * x).sum() / n)
    sigma = -k / b_post
    k = (n * k + _PRIOR_K_WEIGHT * _PRIOR_K_CENTRE) / (n + _PRIOR_K_WEIGHT)
    return k, sigma


_CHUNK = 8
"""Terms of the grid multiplied together before each logarithm (`_grid_log_sums`)."""

_CHUNKED_SPREAD = 1e30
"""Largest exceedance over the first quartile for which products of `_CHUNK` terms stay
within double precision (`_grid_log_sums`)."""


def _grid_log_sums(b: np.ndarray, x: np.ndarray, spread: float) -> np.ndarray:
    """sum_j log(1 - b_i x_j) for each grid point b_i, as logarithms of products of `_CHUNK`
    terms: an eighth of the logarithms (the costliest pass of the fit; the products add an
    error of ~1e-15 to each sum).

    A term is linear in x_j between 1 (x_j = 0) and -g_i x_max / (3 q1) (x_j = x_max), where
    g_i = 1 - sqrt(m / (i - 1/2)) lies in [1 - sqrt(2m), -1 / (5m)] for m grid points. So
    with x_max / q1 = `spread` >= 1, every term lies in [1 / (15m), sqrt(2m) * spread]: while
    m < 10**4 and the spread is at most `_CHUNKED_SPREAD`, a product of 8 terms stays well
    within double precision. Beyond, each term has its own logarithm. log(1 + y), not
    log1p: numpy's log1p measured 1.6x slower, and every y here is above -1, where 1 + y is
    off by at most half an ulp of 1."""
    if spread > _CHUNKED_SPREAD:
        return np.asarray(np.log(1.0 + np.multiply.outer(-b, x)).sum(axis=1))
    per_chunk = -(-x.size // _CHUNK)
    padded = np.zeros(_CHUNK * per_chunk)  # a zero exceedance is a term of 1
    padded[: x.size] = x
    terms = 1.0 + np.multiply.outer(-b, padded)
    products = np.multiply.reduce(terms.reshape(b.size, _CHUNK, per_chunk), axis=1)
    return np.asarray(np.log(products).sum(axis=1))


def _generalized_pareto_quantile(p: np.ndarray, k: float, sigma: float) -> np.ndarray:
    if abs(k) < 1e-12:
        return -sigma * np.log1p(-p)
    return sigma * np.expm1(-k * np.log1p(-p)) / k
