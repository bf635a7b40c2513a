"""What the costliest what-if within the service's limits costs, and what it does to polls.

The worst scenario the limits allow: as long as a scenario may be, with the most reports, every
likelihood and the prior overridden. Measured on one uvicorn process on loopback (SQLite, the
article's case): its latency alone and the server's peak memory; a "billion laughs" refused;
then the latency of polls (GET forecast, sequential) at rest and while 8 clients send the worst
scenario back to back, interleaved in rounds (the machine's speed drifts between minutes), with
the ratio under load / at rest per round.

Run: .venv/bin/python -m bench.bench_whatif
"""

from __future__ import annotations

import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench.bench_service import CASE, TOKEN, seed, uvicorn_process
from bench.common import engine
from models.artifact import DEFAULT_ARTIFACT
from models.catalog import Catalog
from models.contract import MAX_REPORTS
from models.scenario import SCENARIO_LIMITS

WHAT_IF = f"/v1/cases/{CASE}/what-if"
CLIENTS, POLLS, ROUNDS = 8, 300, 3


def worst_scenario(catalog: Catalog) -> str:
    """The costliest scenario within the limits: MAX_REPORTS reports, their notes padded until
    the text is as long as allowed, and every override."""
    head = (
        "version: 1\ntitle: the costliest scenario the limits allow\n"
        f"base_case: {CASE}\nkind: join_war\nas_of: 2022-07-19\nhorizon_days: 90\n"
        "overrides:\n  outcome_prior: {no_entry: 0.5, false_flag: 0.2, direct_invasion: 0.3}\n"
        "  likelihoods:\n"
    )
    head += "".join(
        f"    {i}: {{no_entry: 0.3, false_flag: 0.4, direct_invasion: 0.5}}\n" for i in catalog.ids
    )
    line = (
        "  - {{indicator: {}, value: 0.{}, observed_on: 2022-0{}-1{}, source: s{}, grade: {},"
        " note: {}}}\n"
    )
    room = (SCENARIO_LIMITS.max_chars - len(head) - 10) // MAX_REPORTS - len(line) - 20
    reports = "".join(
        line.format(
            catalog.ids[n % len(catalog.ids)],
            n % 9 + 1,
            n % 6 + 1,
            n % 9,
            n,
            "ABCDEF"[n % 6],
            "n" * room,
        )
        for n in range(MAX_REPORTS)
    )
    text = head + "reports:\n" + reports
    assert len(text) <= SCENARIO_LIMITS.max_chars, len(text)
    return text


BILLION_LAUGHS = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True)
)


def peak_rss_mib(pid: int) -> float:
    """The peak resident memory of a process and its children (the scenario worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    status = Path(f"/proc/{pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024 + sum(peak_rss_mib(int(child)) for child in children)


def timed_post(client: httpx.Client, url: str, scenario: str) -> tuple[float, int]:
    started = time.perf_counter()
    status = client.post(url, json={"scenario": scenario}).status_code
    return time.perf_counter() - started, status


def polls(url: str) -> list[float]:
    with httpx.Client() as client:
        samples = []
        for _ in range(POLLS):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            samples.append(time.perf_counter() - started)
        return samples


def polls_under_load(url: str, what_if: str, scenario: str) -> tuple[list[float], list[int]]:
    stop = threading.Event()
    statuses: list[int] = []

    def load() -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                statuses.append(timed_post(client, what_if, scenario)[1])

    workers = [threading.Thread(target=load) for _ in range(CLIENTS)]
    for worker in workers:
        worker.start()
    time.sleep(1.0)  # every client has a request in flight
    try:
        return polls(url), statuses
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] * 1e3


def main() -> None:
    served = engine()
    scenario = worst_scenario(served.catalog)
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            "ESC_ARTIFACT_PATH": str(DEFAULT_ARTIFACT.resolve()),
            "ESC_DATABASE_URL": f"sqlite:///{scratch}/bench.db",
            "ESC_WRITE_TOKEN": TOKEN,
        }
        with uvicorn_process("app.main:create_app", env, factory=True) as (url, process):
            seed(url)
            before = peak_rss_mib(process.pid)
            with httpx.Client(timeout=60) as client:
                alone = [timed_post(client, url + WHAT_IF, scenario) for _ in range(7)]
                laughs = timed_post(client, url + WHAT_IF, BILLION_LAUGHS)
            assert {status for _, status in alone} == {200}, alone
            after = peak_rss_mib(process.pid)
            rounds = []
            for _ in range(ROUNDS):
                rest = polls(url + f"/v1/cases/{CASE}/forecast")
                loaded, statuses = polls_under_load(
                    url + f"/v1/cases/{CASE}/forecast", url + WHAT_IF, scenario
                )
                rounds.append((rest, loaded, statuses))
    print(f"worst what-if within the limits: {len(scenario)} characters, {MAX_REPORTS} reports")
    print(
        f"  alone: median {statistics.median(t for t, _ in alone) * 1e3:.0f} ms"
        f" (n={len(alone)}); server and worker peak memory {before:.0f} -> {after:.0f} MiB"
    )
    print(f"  billion laughs: {laughs[1]} in {laughs[0] * 1e3:.1f} ms")
    print(f"polls (GET forecast, sequential, n={POLLS} per round), {CLIENTS} clients of what-ifs:")
    for number, (rest, loaded, statuses) in enumerate(rounds, 1):
        counts = {status: statuses.count(status) for status in sorted(set(statuses))}
        print(
            f"  round {number}: at rest p50 {percentile(rest, 50):.2f}"
            f" p99 {percentile(rest, 99):.2f} ms; under load p50 {percentile(loaded, 50):.2f}"
            f" p99 {percentile(loaded, 99):.2f} ms"
            f" (ratio p50 {percentile(loaded, 50) / percentile(rest, 50):.1f});"
            f" what-if answers {counts}"
        )


if __name__ == "__main__":
    main()
