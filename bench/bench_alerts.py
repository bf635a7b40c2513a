"""What alerts cost a write, and how soon a fired alert reaches its receiver.

One uvicorn process on loopback (SQLite), a webhook receiver on loopback. Three cases take the
same writes, one after another: a report posted, then retracted, so that each case's forecast
swings between two values. Case "no rules" has none (the baseline); "10 quiet rules" has ten
that never fire (their lines are far off); "firing" has one rule whose line lies between the two
values, so that it fires at every post and re-arms at every retraction. Rounds interleave the
cases, so the machine's drift shows as spread, not as bias; each figure is a median over rounds,
with the ratio to the baseline in the same round. The delivery latency is from the POST's answer
to the receiver's arrival: at most the delivery loop's poll interval (0.5 s) plus the send.

Run: .venv/bin/python -m bench.bench_alerts
"""

from __future__ import annotations

import datetime as dt
import statistics
import time

import httpx

from bench.bench_service import local_service
from bench.common import engine
from models.artifact import DEFAULT_ARTIFACT
from tests.receiver import receiving

ROUNDS, WRITES = 5, 40
CASES = ("no rules", "10 quiet rules", "firing")


def new_case(client: httpx.Client, case_id: str) -> str:
    body = {"id": case_id, "title": case_id, "state": "A", "target": "B", "patron": "C"}
    client.post("/v1/cases", json=body).raise_for_status()
    return f"/v1/cases/{case_id}"


def swing(client: httpx.Client, path: str, n: int) -> tuple[float, float]:
    """Post one report, then retract it: the seconds each took, and when the POST answered."""
    report = {
        "indicator": "covert_mobilization",
        "value": "present",
        "observed_on": (dt.date.today() - dt.timedelta(days=1)).isoformat(),
        "source": f"bench swing {n}",
        "grade": "A",
    }
    started = time.perf_counter()
    posted = client.post(f"{path}/reports", json=report)
    posted.raise_for_status()
    answered = time.perf_counter()
    client.delete(f"{path}/reports/{posted.json()['reports'][0]['id']}").raise_for_status()
    return answered - started, answered


def probabilities(client: httpx.Client, path: str) -> tuple[float, float]:
    """The direct-invasion probability before and after one swing's report."""
    low = client.get(f"{path}/forecast").json()["probabilities"][2]["mean"]
    swing(client, path, -1)
    history = client.get(f"{path}/forecast/history").json()
    high = max(point["probabilities"][2]["mean"] for point in history)
    return float(low), float(high)


def main() -> None:
    engine(DEFAULT_ARTIFACT)  # fitted first if missing
    with local_service() as client, receiving() as receiver:
        paths = {name: new_case(client, f"bench-alerts-{i}") for i, name in enumerate(CASES)}
        low, high = probabilities(client, paths["firing"])
        rule = {"url": receiver.url, "outcome": "direct_invasion", "band": 0.0}
        for _ in range(10):
            quiet = rule | {"threshold": 0.999, "band": 0.001}
            client.post(f"{paths['10 quiet rules']}/alerts", json=quiet).raise_for_status()
        firing = rule | {"threshold": (low + high) / 2}
        client.post(f"{paths['firing']}/alerts", json=firing).raise_for_status()
        latency: dict[str, list[float]] = {name: [] for name in CASES}
        ratios: dict[str, list[float]] = {name: [] for name in CASES}
        delivery: list[float] = []
        for round_number in range(ROUNDS):
            medians = {}
            for name in CASES:
                times = []
                for n in range(WRITES):
                    took, answered = swing(client, paths[name], round_number * WRITES + n)
                    times.append(took)
                    if name == "firing":
                        arrived = receiver.wait_for(len(delivery) + 1)[-1]
                        delivery.append(arrived.at - answered)
                medians[name] = statistics.median(times)
                latency[name] += times
            for name in CASES:
                ratios[name].append(medians[name] / medians["no rules"])
    print(f"{ROUNDS} rounds of {WRITES} swings (a POST, then its retraction) per case")
    for name in CASES:
        times = sorted(latency[name])
        p99 = times[int(0.99 * (len(times) - 1))]
        print(
            f"{name:16s} POST median {statistics.median(times) * 1e3:6.2f} ms, "
            f"p99 {p99 * 1e3:6.2f} ms; ratio to no rules {statistics.median(ratios[name]):.3f} "
            f"(rounds {min(ratios[name]):.3f}-{max(ratios[name]):.3f})"
        )
    ordered = sorted(delivery)
    print(
        f"delivery, POST answered to receiver: median {statistics.median(ordered) * 1e3:.0f} ms, "
        f"p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1e3:.0f} ms, max "
        f"{ordered[-1] * 1e3:.0f} ms (n={len(ordered)})"
    )


if __name__ == "__main__":
    main()
