"""Proper scoring rules for three ordered outcomes, with uncertain labels.

Each score is the expectation over the true outcome, given the recorded label and its confidence
(`ReferenceSet.soft_labels`), so a disputed case weighs less on every score. Lower is better.
"""

from __future__ import annotations

import numpy as np


def case_scores(forecasts: np.ndarray, soft_labels: np.ndarray) -> dict[str, np.ndarray]:
    """Each case's expected Brier (multiclass, 0-2), negative log score (nats) and ranked
    probability score over the escalation order (0-1), (case,) each: per case, for paired
    comparisons and resampling."""
    n_outcomes = forecasts.shape[1]
    truth = np.eye(n_outcomes)
    brier = ((forecasts[:, None, :] - truth[None]) ** 2).sum(axis=2)
    log = -np.log(np.clip(forecasts, 1e-15, 1.0))
    cumulative = np.cumsum(forecasts, axis=1)[:, None, :-1]
    true_cumulative = np.cumsum(truth, axis=1)[None, :, :-1]
    rps = ((cumulative - true_cumulative) ** 2).sum(axis=2) / (n_outcomes - 1)
    return {
        name: (per_outcome * soft_labels).sum(axis=1)
        for name, per_outcome in (("brier", brier), ("log", log), ("rps", rps))
    }


def auc_matrices(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairwise terms of an AUC with uncertain labels: case i is a positive with
    probability positive[i]. pairs[i, j] = P(i positive, j negative) (i != j), ordered[i, j] =
    pairs[i, j] times 1 if i scores above j, 1/2 if tied. AUC = ordered.sum() / pairs.sum();
    with case multiplicities m (a bootstrap), m @ ordered @ m / m @ pairs @ m."""
    pairs = positive[:, None] * (1.0 - positive[None, :])
    np.fill_diagonal(pairs, 0.0)
    above = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    return pairs * above, pairs
