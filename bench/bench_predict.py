"""One forecast: 4,000 draws, every indicator, 50 reports; and an early case's, 5 reports on 5
indicators, where the value of information covers the other 15 (the costlier explanation).

Beside it, in the same run, the same evidence through PyMC's `sample_posterior_predictive`
(which compiles on every call) and through pgmpy's exact variable elimination at the posterior
mean (a point estimate: no credible intervals, no importance weights), both with the latent
group states as nodes. Ratios, not absolute
times, are what carry across machines.

Run: .venv/bin/python bench/bench_predict.py
"""

from __future__ import annotations

import logging
import statistics
import warnings
from collections.abc import Callable
from datetime import date, timedelta
from functools import partial

import numpy as np

from app.process import tune_serving_process
from bench.common import alternating, describe, engine, timings
from models.catalog import Catalog
from models.draws import ModelDraws
from models.engine import Engine
from models.evidence import Report, evidence_from_reports, reliability
from models.forecast import Prior
from models.predict import Predictor

AS_OF = date(2022, 7, 19)
N_REPORTS = 50
EARLY_REPORTS = 5
SPLIT_DRAWS = 500
"""The fewer draws the cost split is measured at, beside all of them."""


def reports(catalog: Catalog) -> list[Report]:
    """50 reports covering every indicator: mixed values, grades and ages (seeded)."""
    rng = np.random.default_rng(50)
    return [
        Report(
            catalog.ids[i % len(catalog.ids)],
            float(rng.choice([0.0, 1.0, 0.7])),
            AS_OF - timedelta(days=int(rng.integers(0, 60))),
            str(rng.choice(list("ABCDEF"))),
            "bench",
        )
        for i in range(N_REPORTS)
    ]


def pymc_predictive(
    catalog: Catalog, draws: ModelDraws, given: list[Report]
) -> Callable[[], object]:
    """A callable running sample_posterior_predictive of the case's reports over the draws:
    outcome, each group's state, the indicators, the reports."""
    import arviz as az
    import pymc as pm

    trace = az.from_dict(
        {
            "posterior": {
                "theta": draws.theta[None],
                "phi": draws.phi[None],
                "pi": draws.pi["join_war"][None],
            }
        }
    )
    rows = np.array([catalog.position[r.indicator] for r in given])
    rho = np.array(
        [
            reliability(
                r.grade,
                (AS_OF - r.observed_on).days,
                catalog.half_lives[catalog.position[r.indicator]],
            )
            for r in given
        ]
    )
    with pm.Model() as model:
        weights = pm.Dirichlet("pi", a=np.ones(3))
        emissions = pm.Beta("theta", 1.0, 1.0, shape=draws.theta.shape[1:])
        states_on = pm.Beta("phi", 1.0, 1.0, shape=draws.phi.shape[1:])
        outcome = pm.Categorical("y_new", p=weights)
        on = pm.Bernoulli("h_new", p=states_on[:, outcome])
        p_present = pm.math.switch(on[catalog.group_of], emissions[:, 1], emissions[:, 0])
        states = pm.Bernoulli("x_new", p=p_present)
        pm.Bernoulli("reports", p=rho * states[rows] + (1 - rho) / 2)

    def run() -> None:
        with model, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm.sample_posterior_predictive(trace, var_names=["reports"], progressbar=False)

    return run


def pgmpy_query(catalog: Catalog, draws: ModelDraws, given: list[Report]) -> Callable[[], object]:
    """A callable running pgmpy's exact query at the posterior mean (outcome, group states,
    indicators, reports), the network built once."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination
    from pgmpy.models import DiscreteBayesianNetwork

    mean_pi, theta, phi = draws.pi["join_war"].mean(0), draws.theta.mean(0), draws.phi.mean(0)
    network = DiscreteBayesianNetwork()
    cpds = [TabularCPD("outcome", 3, mean_pi[:, None])]
    for c, group in enumerate(catalog.groups):
        network.add_edge("outcome", f"state_{group}")
        cpds.append(
            TabularCPD(f"state_{group}", 2, np.stack([1 - phi[c], phi[c]]), ["outcome"], [3])
        )
    for j, indicator in enumerate(catalog.ids):
        parent = f"state_{catalog.indicators[j].group}"
        network.add_edge(parent, indicator)
        table = np.array([[1 - theta[j, 0], 1 - theta[j, 1]], [theta[j, 0], theta[j, 1]]])
        cpds.append(TabularCPD(indicator, 2, table, [parent], [2]))
    evidence = {}
    for n, r in enumerate(given):
        j = catalog.position[r.indicator]
        rho = reliability(r.grade, (AS_OF - r.observed_on).days, catalog.half_lives[j])
        present, absent = rho * r.value + (1 - rho) / 2, rho * (1 - r.value) + (1 - rho) / 2
        network.add_edge(r.indicator, f"report_{n}")
        cpds.append(
            TabularCPD(
                f"report_{n}", 2, [[1 - absent, 1 - present], [absent, present]], [r.indicator], [2]
            )
        )
        evidence[f"report_{n}"] = 1
    network.add_cpds(*cpds)
    inference = VariableElimination(network)
    return lambda: inference.query(["outcome"], evidence, show_progress=False)


def main() -> None:
    logging.getLogger("pymc").setLevel(logging.WARNING)  # one "Sampling: ..." line per call
    warnings.simplefilter("ignore", FutureWarning)  # pgmpy's own deprecated imports
    tune_serving_process()  # as the service does at start-up
    served = engine()
    catalog, predictor, draws = served.catalog, served.predictor, served.artifact.draws
    given = reports(catalog)
    print(
        f"artifact {served.artifact.id}: {predictor.draws} draws, "
        f"{len(catalog.ids)} indicators, {len(given)} reports"
    )

    def forecast(explain: bool, known: list[Report] = given) -> Callable[[], object]:
        return lambda: predictor.predict(
            evidence_from_reports(catalog, known, AS_OF), Prior("join_war"), explain=explain
        )

    full, lean, early = alternating(
        [
            forecast(explain=True),
            forecast(explain=False),
            forecast(explain=True, known=given[:EARLY_REPORTS]),
        ],
        1000,
    )
    spp = timings(pymc_predictive(catalog, draws, given), 7, warmup=1)
    pgm = timings(pgmpy_query(catalog, draws, given), 30)

    print(f"forecast, full (intervals, contributions, VOI, surprise) {describe(full)}")
    print(f"forecast, probabilities and intervals only               {describe(lean)}")
    print(f"forecast, full, an early case ({EARLY_REPORTS} reports)        {describe(early)}")
    print(f"pm.sample_posterior_predictive, same draws and reports   {describe(spp)}")
    print(f"pgmpy variable elimination at the posterior mean         {describe(pgm)}")
    median = statistics.median(full)
    spp_ratio = statistics.median(spp) / median
    pgm_ratio = statistics.median(pgm) / median
    print(f"sample_posterior_predictive / forecast: {spp_ratio:8.0f}x  (target >= 100x)")
    print(f"pgmpy point query / forecast:           {pgm_ratio:8.1f}x  (target > 1x)")
    print(f"forecast median {median * 1e3:.3f} ms  (target <= 1 ms)")
    print(f"early case's forecast median {statistics.median(early) * 1e3:.3f} ms  (target <= 1 ms)")
    fixed, per_thousand = cost_split(served, given)
    print(
        f"of which per forecast, whatever the draws: {fixed * 1e3:.3f} ms; "
        f"per 1,000 draws: {per_thousand * 1e3:.3f} ms"
    )


def cost_split(served: Engine, given: list[Report]) -> tuple[float, float]:
    """The full forecast's cost split into a part per forecast (calls, Python objects: the
    line through its medians on the first 500 and on all the draws, at zero draws) and a part
    per 1,000 draws, the two predictors timed in alternation (the machine drifts)."""
    catalog, draws = served.catalog, served.artifact.draws
    few = Predictor(
        catalog,
        ModelDraws(
            draws.theta[:SPLIT_DRAWS],
            draws.phi[:SPLIT_DRAWS],
            {kind: pi[:SPLIT_DRAWS] for kind, pi in draws.pi.items()},
        ),
    )
    evidence = evidence_from_reports(catalog, given, AS_OF)
    samples = alternating(
        [
            partial(predictor.predict, evidence, Prior("join_war"))
            for predictor in (few, served.predictor)
        ],
        500,
    )
    small, full = (statistics.median(times) for times in samples)
    per_draw = (full - small) / (draws.size - SPLIT_DRAWS)
    return full - per_draw * draws.size, per_draw * 1000


if __name__ == "__main__":
    main()
