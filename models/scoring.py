"""Proper scoring rules for three ordered outcomes, with uncertain labels.

Each score is the expectation over the true outcome, given the recorded label and its confidence
(`ReferenceSet.soft_labels`), so a disputed case weighs less on every score. Lower is better.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    """Mean scores over cases. brier: multiclass Brier (0-2); log: negative log score (nats);
    rps: ranked probability score over the escalation order (0-1)."""

    brier: float
    log: float
    rps: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def score(forecasts: np.ndarray, soft_labels: np.ndarray) -> Scores:
    """Mean expected scores of `forecasts` (case, outcome) against `soft_labels` (case, outcome)."""
    n_outcomes = forecasts.shape[1]
    truth = np.eye(n_outcomes)  # row k: the outcome vector if k is true
    brier = ((forecasts[:, None, :] - truth[None]) ** 2).sum(axis=2)  # (case, true outcome)
    log = -np.log(np.clip(forecasts, 1e-15, 1.0))
    cumulative = np.cumsum(forecasts, axis=1)[:, None, :-1]
    true_cumulative = np.cumsum(truth, axis=1)[None, :, :-1]
    rps = ((cumulative - true_cumulative) ** 2).sum(axis=2) / (n_outcomes - 1)

    def expected(per_outcome: np.ndarray) -> float:
        return float((per_outcome * soft_labels).sum(axis=1).mean())

    return Scores(brier=expected(brier), log=expected(log), rps=expected(rps))
