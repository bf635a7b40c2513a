"""Why a forecast is what it is, and what would move it, from the same draws and joint
distribution as the forecast (`models.draws`): each observed indicator's contribution to each
outcome's log-odds, and each unobserved indicator's value of information."""

from __future__ import annotations

import numpy as np

from models.catalog import OUTCOMES
from models.draws import DrawLayout, EvidenceState, logit
from models.forecast import Contribution, InformationValue, per_outcome


def contributions(layout: DrawLayout, state: EvidenceState) -> tuple[Contribution, ...]:
    """Leave each observed indicator's reports out, exactly, and compare log-odds (on the
    thinned draws, both sides alike).

    Without indicator j only its group's term changes, so P(k, evidence without j) is the
    joint times the ratio of the group's term without j to its term with it: sums of
    products, no logarithm or exponential per variant."""
    if state.observed.size == 0 and state.fixed_observed.size == 0:
        return ()
    thin = layout.thin
    log_joint = state.log_joint[:, thin]
    joint = np.exp(log_joint - log_joint.max())  # scaled P(k, evidence | draw), (K, S_thin)
    variants = []
    if state.observed.size:
        group_row = np.searchsorted(state.with_evidence, layout.group[state.observed])
        products = np.ascontiguousarray(state.products[:, :, thin])
        phi = layout.phi_thin[state.with_evidence]  # (Ce, K, S_thin)
        with_j = state.group_terms[:, :, thin]  # P(group's reports | k) on these draws
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
    logits = logit(sums / sums.sum(axis=1, keepdims=True))
    effect = logits[:1] - logits[1:]
    ids = [*state.observed.tolist(), *state.fixed_observed.tolist()]
    order = np.argsort(-np.abs(effect).max(axis=1), kind="stable")
    values = effect.tolist()
    return tuple(Contribution(layout.ids[ids[v]], per_outcome(values[v])) for v in order.tolist())


def information(
    layout: DrawLayout, state: EvidenceState, joint: np.ndarray, means: np.ndarray
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
    groups = layout.group[latent]
    for group in np.unique(groups).tolist():
        members = latent[groups == group]
        rows = np.searchsorted(unobserved, members)  # both sorted, members among them
        with_present[rows] = _with_present(layout, state, joint, group, members)
    p_present = with_present.sum(axis=1) / total
    if_present = with_present / with_present.sum(axis=1, keepdims=True)
    if_absent = (outcome_mass[None] - with_present) / (total - with_present.sum(axis=1))[:, None]
    expected = p_present * _entropy_bits(if_present) + (1 - p_present) * _entropy_bits(if_absent)
    gain = np.maximum(_entropy_bits(means) - expected, 0.0)
    rows_out = [
        InformationValue(
            layout.ids[j],
            float(gain[v]),
            float(p_present[v]),
            per_outcome(if_present[v].tolist()),
            per_outcome(if_absent[v].tolist()),
        )
        for v, j in enumerate(unobserved.tolist())
    ]
    return tuple(sorted(rows_out, key=lambda row: -row.bits))


def _with_present(
    layout: DrawLayout, state: EvidenceState, joint: np.ndarray, group: int, members: np.ndarray
) -> np.ndarray:
    """P(k, evidence, j present) for unobserved indicators j of one group, (U, K): the joint
    split by the group's state, times P(j present | state), summed over the draws:

        sum_s theta[j, off, s] * off[k, s] + theta[j, on, s] * on[k, s]

    with on = the joint without the group's term, times P(on | k) and the group's reports'
    P(reports | on) (off likewise): two products of (U, S) by (S, K)."""
    phi = layout.phi64[group]  # P(on | k), (K, S)
    row = np.searchsorted(state.with_evidence, group)
    if row < state.with_evidence.size and state.with_evidence[row] == group:
        products = state.products[row].astype(np.float64)  # P(group's reports | state), (2, S)
        rest = joint / state.group_terms[row]  # the joint without the group's term
        on = rest * phi
        off = (rest - on) * products[0]
        on *= products[1]
    else:
        on = joint * phi
        off = joint - on
    theta = layout.theta64[members]  # (U, 2, S)
    return np.asarray(theta[:, 0] @ off.T + theta[:, 1] @ on.T)


def _entropy_bits(p: np.ndarray) -> np.ndarray:
    """Entropy in bits along the last axis."""
    safe = np.clip(p, 1e-300, 1.0)
    return np.asarray(-(p * np.log2(safe)).sum(axis=-1))
