"""Whether the reports fit any outcome: how atypical the direction of the evidence is under
each outcome, as a z-score (`models.predict` calls a forecast surprising when even the
best-fitting outcome is below `models.contract.SURPRISE_Z`)."""

from __future__ import annotations

import numpy as np

from models.catalog import OUTCOMES
from models.draws import DrawLayout, EvidenceState


def surprise_z(layout: DrawLayout, state: EvidenceState) -> np.ndarray:
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
    # q = (p + (1 - p) e) / (1 + e) = p * attenuation + e / (1 + e), where the attenuation
    # (1 - e) / (1 + e) also scales the shared part; q stays within (1e-6, 1 - 1e-6) as p does.
    attenuation = (1 - weak) / (1 + weak)
    q = layout.marginal_mean[observed] * attenuation
    q += weak / (1 + weak)  # (V, K)
    log_odds = np.log(q) - np.log1p(-q)
    deviation = (((present >= absent)[:, None] - q) * log_odds).sum(axis=0)
    own = (q * (1 - q) * log_odds**2).sum(axis=0)
    shared = layout.loading[observed] * attenuation * log_odds  # (V, K)
    within = ((layout.membership[observed].T @ shared) ** 2).sum(axis=0) - (shared**2).sum(axis=0)
    return np.asarray(deviation / np.sqrt(np.maximum(own + within, 0.0) + 1e-12))
