"""From the catalog's elicited likelihoods to the prior of the latent-group model.

The catalog states, per indicator, P(present | outcome) and what that judgement is worth (an
equivalent sample size n). The model's parameters are per group the probability that its state
is on under each outcome, phi[c, k] = sigmoid(eta[c, k]), and per indicator the probabilities
that it is present with the state off and on, theta = sigmoid(a -/+ exp(u) / 2). Its marginal
P(present | k) = theta_off + (theta_on - theta_off) * phi[c, k] is one affine profile per group:
the group's indicators share the ordering of the outcomes.

The prior is centred on the parameters whose marginals come closest to the elicited ones, in
logit units weighted by the elicitation's own precision, found by least squares once per catalog
(`centres`). The latent state's scale is not identified by marginals alone (stretching phi and
shrinking the gaps between theta_off and theta_on leaves them unchanged); a weak penalty towards
phi near 0.5 and a moderate gap settles the centre, and the data, through how often a group's
indicators appear together, move it. The spreads (`ETA_SD`, `GAP_LOG_SD`, and the indicator's
own for `a`) were chosen so that the prior predictive spread of each marginal matches that of
a Beta prior of the elicited sample size (median ratio 0.92 on the shipped catalog: `forecast
diagnose` prints the check).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.catalog import Catalog

ETA_SD = 0.75
"""Prior sd of logit phi around its centre (times the shared elicitation scale)."""

GAP_LOG_SD = 0.5
"""Prior sd of the log of the logit gap between theta_on and theta_off (times the scale)."""

GAUGE_PENALTY = 0.1
"""Weight of the pull of logit phi towards 0 and of the log gap towards log(3) when centring:
small beside the elicitation's own precision (an equivalent sample size of 4 weighs ~1)."""

CENTRE_GAP = float(np.log(3.0))


@dataclass(frozen=True)
class Centres:
    """The prior's centres and spreads: eta (group, outcome); a, u, a_sd (indicator,)."""

    eta: np.ndarray
    a: np.ndarray
    u: np.ndarray
    a_sd: np.ndarray


def sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-x)), without overflow for large |x|."""
    return np.asarray(np.exp(-np.logaddexp(0.0, -x)))


def logit(p: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(p) - np.log1p(-p))


def parameters(
    prior: Centres, scale: np.ndarray, eta_z: np.ndarray, a_z: np.ndarray, u_z: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """eta (S, C, K), a and u (S, J) from standard normal draws and the elicitation scale
    (S,): the non-centred parametrization that `models.fit.build_model` writes in PyMC."""
    s = scale[:, None]
    eta = prior.eta + s[:, :, None] * ETA_SD * eta_z
    return eta, prior.a + s * prior.a_sd * a_z, prior.u + s * GAP_LOG_SD * u_z


def state_probabilities(a: np.ndarray, u: np.ndarray) -> np.ndarray:
    """theta = P(present | state off, on) = sigmoid(a -/+ exp(u) / 2), (..., J, 2)."""
    half_gap = np.exp(u) / 2
    return np.stack([sigmoid(a - half_gap), sigmoid(a + half_gap)], axis=-1)


def implied_marginals(
    eta: np.ndarray, a: np.ndarray, u: np.ndarray, group_of: np.ndarray
) -> np.ndarray:
    """P(present | outcome) for parameters (eta (..., C, K), a and u (..., J)): (..., J, K)."""
    theta = state_probabilities(a, u)
    off, on = theta[..., 0], theta[..., 1]
    phi = sigmoid(eta)[..., group_of, :]
    return np.asarray(off[..., None] + (on - off)[..., None] * phi)


def elicited_logit_sd(catalog: Catalog) -> np.ndarray:
    """Logit-scale sd of a Beta prior with the elicited mean and sample size, (J, K)."""
    p = catalog.likelihoods
    return np.asarray(1.0 / np.sqrt(p * (1 - p) * (catalog.sample_sizes[:, None] + 1.0)))


def centres(catalog: Catalog) -> Centres:
    """The parameters closest to the elicited marginals, group by group (see the module)."""
    n_groups, n_outcomes = len(catalog.groups), catalog.likelihoods.shape[1]
    eta = np.zeros((n_groups, n_outcomes))
    a = np.zeros(len(catalog.ids))
    u = np.full(len(catalog.ids), CENTRE_GAP)
    target, weight = logit(catalog.likelihoods), 1.0 / elicited_logit_sd(catalog)
    for group in range(n_groups):
        members = np.flatnonzero(catalog.group_of == group)
        eta[group], a[members], u[members] = _centre_group(target[members], weight[members])
    mean = catalog.likelihoods.mean(axis=1)
    a_sd = 1.0 / np.sqrt(mean * (1 - mean) * (catalog.sample_sizes + 1.0))
    return Centres(eta, a, u, a_sd)


def _centre_group(target: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, ...]:
    """One group's (eta, a, u) by weighted least squares on the logits `target` (m, K)."""
    from scipy.optimize import least_squares  # fitting only

    m, n_outcomes = target.shape
    own_group = np.zeros(m, dtype=int)

    def residuals(x: np.ndarray) -> np.ndarray:
        eta, a, u = x[:n_outcomes], x[n_outcomes : n_outcomes + m], x[n_outcomes + m :]
        marginal = implied_marginals(eta[None], a, u, own_group)
        misfit = (logit(marginal) - target) * weight
        return np.concatenate(
            [misfit.ravel(), GAUGE_PENALTY * eta, GAUGE_PENALTY * (u - CENTRE_GAP)]
        )

    profile = sigmoid(target).mean(axis=0)
    start = np.concatenate(
        [np.sign(profile - profile.mean()), target.mean(axis=1), np.full(m, CENTRE_GAP)]
    )
    solution = least_squares(residuals, start).x
    return solution[:n_outcomes], solution[n_outcomes : n_outcomes + m], solution[n_outcomes + m :]
