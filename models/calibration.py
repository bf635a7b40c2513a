"""Out-of-sample checks on the reference cases, and the choice of the within-group correlation.

Leave-one-out by Pareto-smoothed importance sampling: the posterior without case i is the full
posterior reweighted by 1 / P(case i | draw), so no refit is needed. The forecast for case i then
uses the predictor exactly as the service does (its own evidence reweights the draws too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.evidence import evidence_from_states
from models.predict import Predictor
from models.psis import psis
from models.reference import ReferenceSet
from models.scoring import Scores, score

CORRELATION_GRID = tuple(np.round(np.arange(0.0, 1.0, 0.05), 2))
"""Candidate within-group correlations r; 0 is the naive product of likelihoods."""


@dataclass(frozen=True)
class LooResult:
    correlation: float
    forecasts: np.ndarray  # (case, outcome), each from the posterior without that case
    pareto_k: np.ndarray  # (case,)
    scores: Scores


def case_log_likelihood(pi: np.ndarray, theta: np.ndarray, reference: ReferenceSet) -> np.ndarray:
    """Case i's term of the fit's log likelihood at draw s (untempered, fractional labels):
    (case, draw). Leaving case i out divides the posterior by its exponential."""
    # (case, draw, outcome): sum over indicators of log P(coded state | outcome).
    per_outcome = np.einsum("ij,sjk->isk", reference.coded_present, np.log(theta)) + np.einsum(
        "ij,sjk->isk", reference.coded_absent, np.log1p(-theta)
    )
    per_outcome += np.log(pi)[None]
    return np.asarray((per_outcome * reference.soft_labels[:, None, :]).sum(axis=2))


def loo_weights(case_log_lik: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PSIS-smoothed log weights that remove each case from the posterior, (case, draw), with
    their Pareto k, (case,). They do not depend on the correlation: compute them once."""
    smoothed = [psis(-row) for row in case_log_lik]
    return np.stack([weights for weights, _ in smoothed]), np.array([k for _, k in smoothed])


def leave_one_out(
    predictor: Predictor,
    reference: ReferenceSet,
    weights: tuple[np.ndarray, np.ndarray],
    correlation: float,
) -> LooResult:
    """Leave-one-out forecasts of every reference case at one within-group correlation."""
    log_weights, ks = weights
    forecasts = np.stack(
        [
            predictor.means(evidence_from_states(states), correlation, log_weights[i])
            for i, states in enumerate(reference.states)
        ]
    )
    return LooResult(correlation, forecasts, ks, score(forecasts, reference.soft_labels))


def base_rate_loo(reference: ReferenceSet, pseudo_counts: np.ndarray) -> Scores:
    """The base-rate forecast, leaving each case out of the counts: the bar the model must clear."""
    totals = pseudo_counts + reference.soft_labels.sum(axis=0)
    without = totals[None, :] - reference.soft_labels
    forecasts = without / without.sum(axis=1, keepdims=True)
    return score(forecasts, reference.soft_labels)


def choose_correlation(
    predictor: Predictor, reference: ReferenceSet, case_log_lik: np.ndarray
) -> tuple[LooResult, list[LooResult]]:
    """The correlation with the best LOO log score, and the whole curve for the record."""
    weights = loo_weights(case_log_lik)
    curve = [leave_one_out(predictor, reference, weights, r) for r in CORRELATION_GRID]
    return min(curve, key=lambda result: result.scores.log), curve
