"""What a year of a case's forecast costs: a 365-point daily timeline of a case with 500 reports,
cold (no point computed before) and cached, beside one forecast, through the service.

One uvicorn process on loopback (SQLite). Each round creates a case and posts 500 reports spread
over the year, each known a few days after it was observed (a new case: its points are cold);
then times the first timeline request (cold), the same request repeated (cached), a single as-of
forecast of the same case (the baseline: the timeline's cost in forecasts, each replayed from the
500 reports) and a poll of its live forecast (stored, one read). Rounds are
interleaved so that the machine's drift between minutes shows as spread, not as bias.

Run: .venv/bin/python -m bench.bench_timeline
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

import httpx

from bench.bench_service import local_service
from bench.common import engine
from models.artifact import DEFAULT_ARTIFACT
from models.contract import MAX_REPORTS

ROUNDS, REPEATS = 5, 20
END = dt.date(2022, 12, 31)
START = END - dt.timedelta(days=364)
TARGETS = {"cached": 0.050, "cold": 1.0}


def reports(round_number: int, indicators: list[str]) -> list[dict[str, object]]:
    """500 reports over the year, known 0-6 days after observed, differing between rounds."""
    made = []
    for n in range(MAX_REPORTS):
        observed = START + dt.timedelta(days=(n * 73 + round_number) % 365)
        known = min(observed + dt.timedelta(days=n % 7), END)
        made.append(
            {
                "indicator": indicators[n % len(indicators)],
                "value": [0.0, 1.0, 0.7][n % 3],
                "observed_on": observed.isoformat(),
                "known_at": f"{known.isoformat()}T09:00:00Z",
                "source": f"bench source {round_number}-{n}",
                "grade": "ABCDEF"[n % 6],
            }
        )
    return made


def timed(client: httpx.Client, path: str, params: dict[str, str]) -> float:
    started = time.perf_counter()
    client.get(path, params=params).raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    indicators = list(engine(DEFAULT_ARTIFACT).catalog.ids)
    with local_service() as client:
        samples: dict[str, list[float]] = {
            "cold": [],
            "cached": [],
            "one forecast": [],
            "live poll": [],
        }
        for round_number in range(ROUNDS):
            case = f"bench-timeline-{round_number}"
            body = {"id": case, "title": "bench", "state": "A", "target": "B"}
            client.post("/v1/cases", json=body | {"opened_on": "2021-01-01"}).raise_for_status()
            posted = client.post(
                f"/v1/cases/{case}/reports", json=reports(round_number, indicators)
            )
            posted.raise_for_status()
            path = f"/v1/cases/{case}/forecast"
            span = {"from": START.isoformat(), "to": END.isoformat()}
            samples["cold"].append(timed(client, f"{path}/timeline", span))
            for _ in range(REPEATS):
                samples["cached"].append(timed(client, f"{path}/timeline", span))
                samples["one forecast"].append(timed(client, path, {"as_of": END.isoformat()}))
                samples["live poll"].append(timed(client, path, {}))
        size = len(client.get(f"{path}/timeline", params=span).content)
    one = statistics.median(samples["one forecast"])
    print(f"365 daily points, 500 reports, {ROUNDS} rounds; response {size / 1024:.0f} KiB")
    for name, values in samples.items():
        median = statistics.median(values)
        spread = f"{min(values) * 1e3:.1f}-{max(values) * 1e3:.1f}"
        target = TARGETS.get(name)
        verdict = (
            f"  target <= {target * 1e3:.0f} ms: {'met' if median <= target else 'NOT met'}"
            if target
            else ""
        )
        print(
            f"{name:>13}: median {median * 1e3:8.1f} ms (range {spread}, n={len(values)}), "
            f"{median / one:6.1f}x one forecast{verdict}"
        )


if __name__ == "__main__":
    main()
