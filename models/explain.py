"""Why a forecast is what it is, and what would move it, from the same draws and joint
distribution as the forecast (`models.draws`): each observed indicator's contribution to each
outcome's log-odds, and each unobserved indicator's value of information."""

from __future__ import annotations

import numpy as np

from models.catalog import OUTCOMES
from models.draws import DRAW_DTYPE, DrawLayout, EvidenceState, logit
from models.forecast import Contribution, InformationValue, per_outcome


def contributions(layout: DrawLayout, state: EvidenceState) -> tuple[Contribution, ...]:
    """Leave each observed indicator's reports out, exactly, and compare log-odds (on the
    thinned draws, both sides alike).

    Without indicator j only its group's term changes, so P(k, evidence without j) is the
    joint times the ratio of the group's term without j to its term with it. Split by the
    group's state, that ratio is (1 - w) / f_j(off) + w / f_j(on), w = P(the group on | k, its
    reports), so each variant's sum over draws is two products of vectors: no logarithm or
    exponential per variant, one pass per group rather than per indicator."""
    if state.observed.size == 0 and state.fixed_observed.size == 0:
        return ()
    thin = layout.thin
    log_joint = state.log_joint[:, thin]
    # scaled P(k, evidence | draw), (K, S_thin), summed in double
    joint = np.exp(log_joint - log_joint.max(), dtype=np.float64)
    sums = np.empty((1 + state.observed.size + state.fixed_observed.size, len(OUTCOMES)))
    joint.sum(axis=1, out=sums[0])
    if state.observed.size:
        _without_observed(layout, state, joint, out=sums[1 : 1 + state.observed.size])
    if state.fixed_observed.size:
        # A fixed indicator's factor is one number per outcome, the same in every draw.
        np.divide(sums[0], state.fixed_factors, out=sums[1 + state.observed.size :])
    logits = logit(sums / sums.sum(axis=1, keepdims=True))
    effect = logits[:1] - logits[1:]
    ids = [*state.observed.tolist(), *state.fixed_observed.tolist()]
    order = (-np.abs(effect).max(axis=1)).argsort(kind="stable")
    values = effect.tolist()
    return tuple([Contribution(layout.ids[ids[v]], per_outcome(values[v])) for v in order.tolist()])


def _without_observed(
    layout: DrawLayout, state: EvidenceState, joint: np.ndarray, out: np.ndarray
) -> None:
    """Per observed indicator j, sum over the thinned draws of P(k, evidence without j), into
    `out` (V, K): 1 / f_j(off) . joint + (1 / f_j(on) - 1 / f_j(off)) . (w * joint)."""
    thin = layout.thin
    # Every factor f is a probability mixture of positive terms, far from zero.
    inverse = np.divide(1.0, state.f[:, :, thin], dtype=np.float64)  # (V, 2, S_thin)
    np.matmul(inverse[:, 0], joint.T, out=out)
    step = inverse[:, 1] - inverse[:, 0]
    on_weight = layout.phi_thin[state.with_evidence] * state.products[:, None, 1, thin]
    on_weight /= state.group_terms[:, :, thin]  # w, (Ce, K, S_thin)
    weighted = on_weight * joint
    group_row = state.with_evidence.searchsorted(layout.group[state.observed])
    out += (weighted[group_row] @ step[:, :, None])[:, :, 0]  # a batch of (K, S) @ (S,)


def information(
    layout: DrawLayout, state: EvidenceState, joint: np.ndarray, means: np.ndarray
) -> tuple[InformationValue, ...]:
    """Expected entropy reduction from learning each unobserved indicator's true state, with
    P(outcome | present) and P(outcome | absent) from the same joint distribution and draws
    as the forecast: P(present) * if_present + P(absent) * if_absent = the forecast."""
    unobserved = (state.applicable & (state.strength == 0)).nonzero()[0]
    if unobserved.size == 0:
        return ()
    outcome_mass = joint.sum(axis=1)  # P(k, evidence), scaled as the forecast's
    total = outcome_mass.sum()
    fixed_rows = state.fixed_rows[unobserved]
    with_present = outcome_mass * fixed_rows  # P(k, evidence, present); latent rows below
    latent = (~fixed_rows.any(axis=1)).nonzero()[0]
    if latent.size:
        within = _with_present(layout, state, joint, unobserved[latent])
        with_present[latent] = np.clip(within, 0.0, outcome_mass)
    present_mass = with_present.sum(axis=1)
    # Both branches and the forecast itself, as rows of one array: one entropy for all.
    size = unobserved.size
    distributions = np.empty((2 * size + 1, len(OUTCOMES)))
    np.divide(with_present, present_mass[:, None], out=distributions[:size])
    np.subtract(outcome_mass, with_present, out=distributions[size:-1])
    distributions[size:-1] /= (total - present_mass)[:, None]
    distributions[-1] = means
    entropies = _entropy_bits(distributions)
    p_present = present_mass / total
    expected = p_present * entropies[:size] + (1 - p_present) * entropies[size:-1]
    gain = np.maximum(entropies[-1] - expected, 0.0)
    ids, bits, p, rows = (
        unobserved.tolist(),
        gain.tolist(),
        p_present.tolist(),
        distributions.tolist(),
    )
    return tuple(
        [
            InformationValue(
                layout.ids[ids[v]],
                bits[v],
                p[v],
                per_outcome(rows[v]),
                per_outcome(rows[size + v]),
            )
            for v in (-gain).argsort(kind="stable").tolist()
        ]
    )


def _with_present(
    layout: DrawLayout, state: EvidenceState, joint: np.ndarray, latent: np.ndarray
) -> np.ndarray:
    """P(k, evidence, j present) for unobserved indicators j of latent groups (sorted by
    group), (U, K). Split by j's group's state, j is present with theta_off or theta_on:

        sum_s joint[k, s] * (theta_off[j, s] + (theta_on - theta_off)[j, s] * w[g(j), k, s])

    with w = P(the group on | k, its reports, draw s). For a group without reports w is phi,
    and the bracket is P(j present | k, s) with the state summed out (`layout.marginal`), so
    one matrix-vector product per outcome covers every such indicator. A group with reports
    has w = phi * product on / the group's term, which adds gap[j] . (joint * (w - phi)).

    In single precision, as the draws are (~1e-7 relative, in double it took 1.6x as long):
    the branches still average to the forecast exactly, since P(k, evidence, absent) is what
    the joint leaves (the caller clips each within (0, the joint) should rounding cross it).
    Matrix-vector products, not one product by the (S, K) joint: with three columns,
    OpenBLAS's matrix product measured two to three times slower."""
    joint32 = joint.astype(DRAW_DTYPE)
    every = np.empty((len(OUTCOMES), len(layout.ids)), DRAW_DTYPE)
    for k, row in enumerate(joint32):
        np.matmul(layout.marginal[k], row, out=every[k])
    present = every[:, latent]  # (K, U)
    groups = layout.group[latent]
    firsts = groups.searchsorted(state.with_evidence).tolist()
    lasts = groups.searchsorted(state.with_evidence, side="right").tolist()
    for row, (first, last) in enumerate(zip(firsts, lasts, strict=True)):
        if first == last:
            continue  # every indicator of this group has reports
        products, phi = state.products[row], layout.phi[state.with_evidence[row]]
        shift = phi * products[1] / state.group_terms[row]
        shift -= phi
        shift *= joint32  # joint * (w - phi), (K, S)
        gap = layout.theta_gap[latent[first:last]]
        for k, weights in enumerate(shift):
            present[k, first:last] += gap @ weights
    return np.asarray(present.T)


def _entropy_bits(p: np.ndarray) -> np.ndarray:
    """Entropy in bits along the last axis."""
    safe = np.clip(p, 1e-300, 1.0)
    return np.asarray(-(p * np.log2(safe)).sum(axis=-1))
