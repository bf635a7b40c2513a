"""The service under load on loopback, beside a bare FastAPI endpoint measured in the same run.

wrk (Debian's package) with 32 connections for 5 s per figure; every server is a single uvicorn
process on 127.0.0.1 with the same options (the service's report writer in a process of its own,
as served; and, for its baseline, the same service with the writer a thread, ESC_WRITER=thread).
The case starts with the article's 17 reports. Three rounds, each measuring the bare endpoint
next to every figure: the ratios are per round (the machine's speed drifts between minutes), and
the medians of the rounds are reported.

Run: .venv/bin/python -m bench.bench_service
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from bench.common import engine
from models.artifact import DEFAULT_ARTIFACT

CONNECTIONS, SECONDS, ROUNDS = 32, 5, 3
TOKEN = "bench-token"
CASE = "belarus-ukraine-2022"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def uvicorn(target: str, env: dict[str, str], factory: bool = False) -> Iterator[str]:
    with uvicorn_process(target, env, factory) as (url, _):
        yield url


@contextmanager
def local_service() -> Iterator[httpx.Client]:
    """The service on a fresh SQLite file (the default model), and a client holding its
    write token, until the block ends."""
    with tempfile.TemporaryDirectory() as directory:
        env = {
            "ESC_DATABASE_URL": f"sqlite:///{Path(directory) / 'bench.db'}",
            "ESC_WRITE_TOKEN": TOKEN,
            "ESC_ARTIFACT_PATH": str(DEFAULT_ARTIFACT),
        }
        auth = {"Authorization": f"Bearer {TOKEN}"}
        with (
            uvicorn_process("app.main:create_app", env, factory=True) as (url, _),
            httpx.Client(base_url=url, headers=auth, timeout=60) as client,
        ):
            yield client


@contextmanager
def uvicorn_process(
    target: str, env: dict[str, str], factory: bool = False
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A uvicorn server on a free loopback port: its URL and its process, once it answers."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"] + (["--factory"] if factory else [])
    command += ["--http", "app.transport:BoundedHttpTools"]  # as `make serve` runs it
    process = subprocess.Popen(command, env=os.environ | env)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/docs", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)


def wrk(url: str, *extra: str) -> dict[str, float]:
    """Requests per second and latency percentiles (ms) of one wrk run."""
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", *extra, url]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    figures = {"rate": float(rate.group(1))}
    for percentile, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
        figures[f"p{percentile}"] = float(value) * scale
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(non_2xx.group(1)) if non_2xx else 0.0
    return figures


def seed(url: str) -> None:
    from app.seed import ARTICLE_CASE, ARTICLE_SCENARIO
    from models.catalog import load_catalog
    from models.scenario import load_scenario

    auth = {"Authorization": f"Bearer {TOKEN}"}
    case = ARTICLE_CASE | {"opened_on": str(ARTICLE_CASE["opened_on"])}
    httpx.post(f"{url}/v1/cases", json=case, headers=auth).raise_for_status()
    scenario = load_scenario(ARTICLE_SCENARIO, load_catalog()).scenario
    reports = [entry.model_dump(mode="json") for entry in scenario.reports]
    httpx.post(f"{url}/v1/cases/{CASE}/reports", json=reports, headers=auth).raise_for_status()


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    engine()  # fit the default artifact if there is none
    with tempfile.TemporaryDirectory() as scratch:
        env = {
            "ESC_ARTIFACT_PATH": str(DEFAULT_ARTIFACT.resolve()),
            "ESC_DATABASE_URL": f"sqlite:///{scratch}/bench.db",
            "ESC_WRITE_TOKEN": TOKEN,
        }
        script = Path(scratch) / "post.lua"
        body = {
            "indicator": "border_exercises",
            "value": "present",
            "observed_on": time.strftime("%Y-%m-%d", time.gmtime()),
            "source": "bench",
            "grade": "C",
        }
        script.write_text(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n'
        )
        # The same service with its reports written by a thread of the serving process (the
        # writer's one alternative), on a database of its own: the process writer's baseline.
        threaded = env | {
            "ESC_DATABASE_URL": f"sqlite:///{scratch}/threaded.db",
            "ESC_WRITER": "thread",
        }
        with (
            uvicorn("bench.bare_app:app", {}) as bare,
            uvicorn("app.main:create_app", env, factory=True) as service,
            uvicorn("app.main:create_app", threaded, factory=True) as by_thread,
        ):
            seed(service)
            seed(by_thread)
            forecast = f"{service}/v1/cases/{CASE}/forecast"
            tag = httpx.get(forecast).headers["etag"]
            rounds = [
                {
                    "bare": wrk(f"{bare}/bare"),
                    "304": wrk(forecast, "-H", f"If-None-Match: {tag}"),
                    "200": wrk(forecast),
                    "post": wrk(f"{service}/v1/cases/{CASE}/reports", "-s", str(script)),
                    "thread": wrk(f"{by_thread}/v1/cases/{CASE}/reports", "-s", str(script)),
                }
                for _ in range(ROUNDS)
            ]
    report(rounds)


def report(rounds: list[dict[str, dict[str, float]]]) -> None:
    """Print each figure beside the bare endpoint's, as a ratio where the target is one."""
    print(
        f"{CONNECTIONS} connections, {SECONDS} s per figure, {ROUNDS} rounds (medians), "
        "loopback, one uvicorn process per server"
    )

    def median(figure: str, value: str) -> float:
        return statistics.median(run[figure][value] for run in rounds)

    print(f"bare FastAPI endpoint        {median('bare', 'rate'):8.0f} req/s")
    for figure, name, target in (
        ("304", "GET forecast, 304 (ETag)", 0.7),
        ("200", "GET forecast, 200", 0.5),
    ):
        ratios = [run[figure]["rate"] / run["bare"]["rate"] for run in rounds]
        print(
            f"{name:28s} {median(figure, 'rate'):8.0f} req/s  ratio {statistics.median(ratios):.2f}"
            f" (rounds {min(ratios):.2f}-{max(ratios):.2f}; target >= {target})"
        )
    p99s = [run["post"]["p99"] for run in rounds]
    # The rate beside the bare endpoint's carries across days; the p99 at 32 connections is
    # 32 / rate at heart (each connection waits for its answer), so it moves with the machine.
    post_ratios = [run["post"]["rate"] / run["bare"]["rate"] for run in rounds]
    print(
        f"POST one report (+forecast)  {median('post', 'rate'):8.0f} req/s"
        f"  ratio {statistics.median(post_ratios):.2f}"
        f"  p50 {median('post', 'p50'):.1f} ms  p99 {statistics.median(p99s):.1f} ms"
        f" (rounds {min(p99s):.1f}-{max(p99s):.1f}; target p99 <= 30 ms)"
    )
    by_process = [run["post"]["rate"] / run["thread"]["rate"] for run in rounds]
    print(
        f"POST, writer thread instead  {median('thread', 'rate'):8.0f} req/s"
        f"  p99 {median('thread', 'p99'):.1f} ms; the writer's process gives"
        f" {statistics.median(by_process):.2f}x its rate"
        f" (rounds {min(by_process):.2f}-{max(by_process):.2f})"
    )
    errors = sum(run[figure]["errors"] for run in rounds for figure in run)
    if errors:
        print(f"non-2xx/3xx responses: {errors:.0f}")


if __name__ == "__main__":
    main()
