"""The evaluation's nested choice of the design-effect correlation, against the same choice made
term by term with log-sum-exp (the fast path factors each likelihood by its top over the draws)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from models.catalog import load_catalog
from models.evaluation import CORRELATION_GRID, NESTED_DRAWS, _IndependentModel
from models.evidence import evidence_from_states
from models.reference import load_reference

from ..synthetic import independent_draws


def term_by_term(model: _IndependentModel, g: int, prior: np.ndarray) -> np.ndarray:
    """Each candidate's nested log score written out one case at a time."""
    families = model.reference.family_index
    thin = slice(None, None, max(1, model.theta.shape[0] // NESTED_DRAWS))
    family_lik = [model.case_log_lik[cases][:, thin].sum(axis=0) for cases in families]
    scores = np.zeros(len(CORRELATION_GRID))
    for r_index, r in enumerate(CORRELATION_GRID):
        likelihood = model.log_likelihood(r)[:, :, thin]  # (N, K, S)
        for h, cases in enumerate(families):
            if h == g:
                continue
            log_weights = -family_lik[g] - family_lik[h]
            log_weights -= logsumexp(log_weights)
            for i in cases:
                per_outcome = logsumexp(likelihood[i] + log_weights, axis=1) + np.log(prior)
                log_forecast = per_outcome - logsumexp(per_outcome)
                scores[r_index] -= model.reference.soft_labels[i] @ log_forecast
    return scores


@pytest.mark.parametrize("seed", [1, 2])
def test_nested_log_scores_are_the_term_by_term_scores(seed: int) -> None:
    catalog = load_catalog()
    reference = load_reference(catalog)
    held_out = [evidence_from_states(row, 0.9) for row in reference.states]
    model = _IndependentModel(
        catalog, reference, independent_draws(catalog, 300, seed, spread=1.0), held_out
    )
    families = reference.family_index
    prior = np.array([0.5, 0.2, 0.3])
    for g in (0, len(families) // 2):
        expected = term_by_term(model, g, prior)
        np.testing.assert_allclose(model.nested_log_scores(g, families, prior), expected, rtol=1e-9)
        assert model.choose_correlation(g, families, prior) == CORRELATION_GRID[np.argmin(expected)]
