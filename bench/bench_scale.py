"""The service at scale, on SQLite and on PostgreSQL: 10,000 cases, two of them with 50,000
reports and 100,000 history points, the rest with 3 reports each.

Each database is filled directly and every case's live forecast made (in this process, by the
service's own code); then one uvicorn process serves it, beside a bare FastAPI endpoint in the
same run (the baseline: these machines' speed drifts). wrk, 32 connections, 5 s a figure. Each
figure is printed with its target. Printed, per database:

- polls of random cases (304 with the ETag, and 200) and POSTs of one report to random cases:
  rate and p99, the 304's rate beside the bare endpoint's;
- a history page and a reports page of a long case (medians of 30);
- one `/metrics` scrape (the first builds the case gauges; the next serves them);
- a simulated midnight: every live row made yesterday's. With tomorrow prepared (as the service
  does in the last hours of a day: its time is printed), polls and POSTs while the service makes
  the prepared rows live, against their daytime figures; without, the storm it replaces;
- the service's CPU with 1,000 event streams open on 1,000 idle cases, over 10 s;
- event latency across two replicas (a second process on the same database): a report POSTed
  to one, until the event arrives from the other, p50 and p99 of 40.

Run: .venv/bin/python -m bench.bench_scale [sqlite|postgresql]  (both unless one is named)
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
from sqlalchemy import delete, func, insert, select, update

from app import live
from app.forecasting import today
from app.store.db import migrate, open_database, sessions
from app.store.tables import CaseRow, ForecastRow, LiveForecastRow, NextForecastRow, ReportRow
from bench.bench_pages import median_ms
from bench.bench_service import TOKEN, uvicorn_process, wrk
from bench.common import engine
from models.artifact import DEFAULT_ARTIFACT
from models.engine import Engine

CASES = int(os.environ.get("BENCH_SCALE_CASES", "10000"))  # fewer to try the bench out
LONG_CASES, SMALL_REPORTS = 2, 3
LONG_REPORTS, LONG_POINTS = (50_000, 100_000) if CASES >= 10_000 else (5_000, 10_000)
STREAMS, IDLE_SECONDS, EVENT_SAMPLES = min(1_000, CASES // 2), 10.0, 40
AT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
INDICATORS = ("covert_mobilization", "target_border_fortification", "rhetoric_shift")


def case_ids() -> list[str]:
    return [f"case-{n:05d}" for n in range(CASES)]


def fill(url: str, model: Engine) -> None:
    """The cases, their reports and the long cases' history, written directly; then every
    case's live forecast, made as a first read would make it."""
    database = open_database(url)
    migrate(database)
    ids = case_ids()
    case: dict[str, object] = {"title": "t", "state": "s", "target": "x", "kind": "start_war"}
    case |= {"horizon_days": 90, "created_at": AT, "opened_on": dt.date(2019, 1, 1)}
    with database.begin() as connection:
        connection.execute(insert(CaseRow), [case | {"id": case_id} for case_id in ids])
        small = [_report(case_id, n) for case_id in ids[LONG_CASES:] for n in range(SMALL_REPORTS)]
        for start in range(0, len(small), 10_000):
            connection.execute(insert(ReportRow), small[start : start + 10_000])
        for case_id in ids[:LONG_CASES]:
            for start in range(0, LONG_REPORTS, 10_000):
                rows = [_report(case_id, n) for n in range(start, start + 10_000)]
                connection.execute(insert(ReportRow), rows)
            for start in range(0, LONG_POINTS, 10_000):
                points = [
                    _point(case_id, n, model.artifact.id) for n in range(start, start + 10_000)
                ]
                connection.execute(insert(ForecastRow), points)
    opened = sessions(database)
    for case_id in ids:
        with opened() as session:
            live.refresh(session, model, case_id, today())
    database.dispose()


def _report(case_id: str, n: int) -> dict[str, object]:
    at = AT + dt.timedelta(minutes=n)
    observed = today() - dt.timedelta(days=n % 60)
    return {"case_id": case_id, "indicator": INDICATORS[n % 3], "value": 1.0, "grade": "C"} | {
        "observed_on": observed,
        "source": f"source {n}",
        "note": "",
        "known_at": at,
        "received_at": at,
    }


def _point(case_id: str, n: int, artifact_id: str) -> dict[str, object]:
    at = AT + dt.timedelta(minutes=n)
    probabilities = [
        {"outcome": o, "mean": 0.3, "lower": 0.1, "upper": 0.6, "words": "unlikely"}
        for o in ("no_entry", "false_flag", "direct_invasion")
    ]
    point: dict[str, object] = {"recorded_at": at.isoformat(), "as_of": at.date().isoformat()}
    point |= {"artifact_id": artifact_id, "evidence_hash": "e" * 64, "reports_used": n}
    row: dict[str, object] = {"case_id": case_id, "recorded_at": at, "as_of": at.date()}
    row["artifact_id"] = artifact_id
    return row | {
        "reports_hash": f"{n:064d}",
        "point": json.dumps(point | {"probabilities": probabilities}),
    }


def scripts(directory: Path, url: str) -> dict[str, Path]:
    """wrk scripts: polls of random cases (with their ETags, and without), POSTs to random
    small cases."""
    database = open_database(url)
    with database.connect() as connection:
        tags = dict(connection.execute(select(LiveForecastRow.case_id, LiveForecastRow.etag)).all())
    database.dispose()
    ids = sorted(tags)
    table = "local cases = {" + ",".join(json.dumps(i) for i in ids) + "}\n"
    table += "local tags = {" + ",".join(json.dumps(tags[i]) for i in ids) + "}\n"
    pick = "local n = math.random(#cases)\n"
    body = json.dumps(
        {"indicator": "border_exercises", "value": "present", "observed_on": str(today())}
        | {"source": "bench", "grade": "C"}
    )
    texts = {
        "304": table
        + "request = function()\n"
        + pick
        + 'return wrk.format("GET", "/v1/cases/" .. cases[n] .. "/forecast",'
        ' {["If-None-Match"] = tags[n]})\nend\n',
        "200": table
        + "request = function()\n"
        + pick
        + 'return wrk.format("GET", "/v1/cases/" .. cases[n] .. "/forecast")\nend\n',
        "post": table
        + "request = function()\n"
        + f"local n = math.random({LONG_CASES + 1}, #cases)\n"
        + 'return wrk.format("POST", "/v1/cases/" .. cases[n] .. "/reports", '
        '{["Content-Type"] = "application/json", '
        f'["Authorization"] = "Bearer {TOKEN}"}}, {json.dumps(body)})\nend\n',
    }
    paths = {}
    for name, text in texts.items():
        paths[name] = directory / f"{name}.lua"
        paths[name].write_text(text)
    return paths


def load(service: str, script: Path) -> dict[str, float]:
    return wrk(f"{service}/", "-s", str(script))


SCRAPE_SECONDS = 1.0
"""How often `while_scraped` scrapes (Prometheus' default is every 15 s)."""


def while_scraped(service: str, script: Path) -> dict[str, float]:
    """`load`, while another client scrapes `/metrics` every `SCRAPE_SECONDS`."""
    stop = threading.Event()

    def scrape() -> None:
        with httpx.Client(timeout=120) as client:
            while not stop.wait(SCRAPE_SECONDS):
                client.get(f"{service}/metrics").raise_for_status()

    scraper = threading.Thread(target=scrape)
    scraper.start()
    try:
        return load(service, script)
    finally:
        stop.set()
        scraper.join()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def open_stream(port: int, case_id: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """An event stream of the case, read up to its first forecast."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /v1/cases/{case_id}/events HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
    await writer.drain()
    await next_forecast(reader)
    return reader, writer


async def next_forecast(reader: asyncio.StreamReader) -> None:
    while (line := await reader.readline()) and not line.startswith(b"event: forecast"):
        pass
    if not line:
        raise RuntimeError("the stream ended")


def idle_streams(port: int, pid: int) -> float:
    """The server's CPU (cores) with STREAMS streams open on as many cases, nothing written."""

    async def run() -> float:
        streams = [await open_stream(port, case_id) for case_id in case_ids()[-STREAMS:]]
        await asyncio.sleep(2)  # every watcher settled
        used = cpu_seconds(pid)
        await asyncio.sleep(IDLE_SECONDS)
        cores = (cpu_seconds(pid) - used) / IDLE_SECONDS
        for _, writer in streams:
            writer.close()
        return cores

    return asyncio.run(run())


def event_latency(writer_url: str, reader_port: int) -> list[float]:
    """Seconds from a POST's answer on one replica to the event from the other."""
    watched = case_ids()[LONG_CASES : LONG_CASES + 8]

    async def run() -> list[float]:
        streams = {case_id: await open_stream(reader_port, case_id) for case_id in watched}
        seconds = []
        async with httpx.AsyncClient(base_url=writer_url, headers=AUTH, timeout=30) as client:
            for n in range(EVENT_SAMPLES):
                case_id = watched[n % len(watched)]
                arrived = asyncio.create_task(next_forecast(streams[case_id][0]))
                body = {"indicator": "pretext_claims", "value": 0.4 + n / 1000}
                body |= {"observed_on": str(today()), "source": f"e{n}", "grade": "B"}
                answer = await client.post(f"/v1/cases/{case_id}/reports", json=body)
                answer.raise_for_status()
                answered = time.perf_counter()
                await asyncio.wait_for(arrived, 10)
                seconds.append(time.perf_counter() - answered)
                await asyncio.sleep(random.uniform(0.05, 0.25))
        for _, writer in streams.values():
            writer.close()
        return seconds

    return asyncio.run(run())


def make_yesterdays(url: str) -> None:
    """Every live row as if written yesterday: at midnight, all are stale at once."""
    database = open_database(url)
    with database.begin() as connection:
        connection.execute(update(LiveForecastRow).values(evidence_on=today() - dt.timedelta(1)))
        connection.execute(delete(NextForecastRow))
    database.dispose()


def prepare_today(url: str, model: Engine) -> float:
    """Seconds to prepare today's forecast of every case (what the service does before
    midnight, in the background)."""
    database = open_database(url)
    opened = sessions(database)
    started = time.perf_counter()
    for case_id in case_ids():
        with opened() as session:
            live.prepare(session, model, case_id, today())
    seconds = time.perf_counter() - started
    database.dispose()
    return seconds


def prepared_left(url: str) -> int:
    database = open_database(url)
    with database.connect() as connection:
        left = connection.execute(select(func.count()).select_from(NextForecastRow)).scalar()
    database.dispose()
    return int(left or 0)


@contextmanager
def databases(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'scale.db'}"
    else:
        from tests.postgres import postgres_server

        with postgres_server() as url:
            yield url


def line(name: str, value: str, target: str = "") -> None:
    print(f"  {name:52s} {value:34s} {target}")


def daytime(
    kind: str, service: str, bare: str, lua: dict[str, Path]
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """The daytime figures; the polls (304, 200) and POSTs, for comparison at midnight."""
    base = wrk(bare)
    polls, fresh = load(service, lua["304"]), load(service, lua["200"])
    posts = load(service, lua["post"])
    line("bare endpoint", f"{base['rate']:7.0f} req/s  p99 {base['p99']:6.1f} ms")
    ratio = polls["rate"] / base["rate"]
    line(
        "poll, 304",
        f"{polls['rate']:7.0f} req/s  p99 {polls['p99']:6.1f} ms",
        f"{ratio:.2f} x bare (target >= {0.6 if kind != 'sqlite' else 0.7})",
    )
    line("poll, 200", f"{fresh['rate']:7.0f} req/s  p99 {fresh['p99']:6.1f} ms")
    line(
        "POST one report",
        f"{posts['rate']:7.0f} req/s  p99 {posts['p99']:6.1f} ms",
        "(a forecast per case; bench_service's one case: target p99 <= 30 ms)",
    )

    with httpx.Client(timeout=120) as client:
        long_case = f"{service}/v1/cases/{case_ids()[0]}"
        for name, path in (("history", "/forecast/history"), ("reports", "/reports")):
            ours, bare_ms, size = median_ms(client, long_case + path, bare)
            line(
                f"{name} page of a long case (500)",
                f"{ours:7.2f} ms ({size // 1024} KiB)",
                f"bare {bare_ms:.2f} ms",
            )
        for attempt in ("first", "next"):
            started = time.perf_counter()
            scraped = client.get(f"{service}/metrics")
            seconds = time.perf_counter() - started
            line(
                f"/metrics, {attempt} scrape",
                f"{seconds * 1e3:7.0f} ms ({len(scraped.content) // 1024} KiB)",
                "(before: 2.35 s SQLite, 10.1 s PostgreSQL)" if attempt == "first" else "",
            )
    scraped_polls = while_scraped(service, lua["304"])
    line(
        "poll, 304, while /metrics is scraped every second",
        f"{scraped_polls['rate']:7.0f} req/s  p99 {scraped_polls['p99']:6.1f} ms",
        f"{scraped_polls['p99'] / polls['p99']:.1f} x p99 unscraped (before: 5.8 ms -> 2 s)",
    )

    return polls, fresh, posts


def figures(kind: str, model: Engine) -> None:
    with databases(kind) as url, tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        started = time.perf_counter()
        fill(url, model)
        print(f"{kind}: {CASES:,} cases filled in {time.perf_counter() - started:.0f} s")
        lua = scripts(Path(scratch), url)
        env = {"ESC_DATABASE_URL": url, "ESC_WRITE_TOKEN": TOKEN}
        env |= {"ESC_ARTIFACT_PATH": str(DEFAULT_ARTIFACT.resolve())}
        app = "app.main:create_app"
        bare = stack.enter_context(uvicorn_process("bench.bare_app:app", {}))[0] + "/bare"
        with uvicorn_process(app, env, factory=True) as (service, _):
            polls, fresh, posts = daytime(kind, service, bare, lua)
        # Prepared while no service runs: one would make them live at once (their day is today).
        make_yesterdays(url)
        seconds = prepare_today(url, model)
        line("midnight: preparing every case (before it, background)", f"{seconds:7.1f} s")
        service, process = stack.enter_context(uvicorn_process(app, env, factory=True))
        port = int(service.rsplit(":", 1)[1])
        while prepared_left(url) == CASES:  # the service's task wakes within 30 s
            time.sleep(0.5)
        started = time.perf_counter()
        night_polls, night_posts = load(service, lua["200"]), load(service, lua["post"])
        while prepared_left(url) > 0:
            time.sleep(0.5)
        made_live = time.perf_counter() - started
        line(
            "midnight, prepared: poll (200) while made live",
            f"{night_polls['rate']:7.0f} req/s  p99 {night_polls['p99']:6.1f} ms",
            f"{night_polls['p99'] / fresh['p99']:.1f} x daytime p99 (target <= 2)",
        )
        line(
            "midnight, prepared: POST while made live",
            f"{night_posts['rate']:7.0f} req/s  p99 {night_posts['p99']:6.1f} ms",
            f"{night_posts['p99'] / posts['p99']:.1f} x daytime p99 (target <= 2)",
        )
        line("midnight, prepared: all made live after", f"{made_live:7.1f} s")
        make_yesterdays(url)
        storm = load(service, lua["200"])
        line(
            "midnight, nothing prepared: poll (200)",
            f"{storm['rate']:7.0f} req/s  p99 {storm['p99']:6.1f} ms",
            f"{storm['p99'] / fresh['p99']:.1f} x daytime p99 (the storm it replaces)",
        )

        cores = idle_streams(port, process.pid)
        line(
            f"CPU with {STREAMS:,} idle event streams",
            f"{cores:7.3f} cores",
            "(target < 0.05)",
        )

        second = stack.enter_context(uvicorn_process(app, env, factory=True))[0]
        seconds_list = sorted(event_latency(service, int(second.rsplit(":", 1)[1])))
        p50 = statistics.median(seconds_list) * 1e3
        p99 = seconds_list[int(0.99 * (len(seconds_list) - 1))] * 1e3
        line(
            "event from another replica after a POST",
            f"p50 {p50:6.0f} ms  p99 {p99:6.0f} ms",
            "(target p99 <= 300 ms)" if kind != "sqlite" else "(SQLite: seen within 0.5 s)",
        )


def main() -> None:
    kinds = sys.argv[1:] or ["sqlite", "postgresql"]
    model = engine()
    for kind in kinds:
        figures(kind, model)
        subprocess.run(["sync"], check=False)


if __name__ == "__main__":
    main()
