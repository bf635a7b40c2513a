"""Long lists read a page at a time: one case with 100,000 history points and 50,000 reports.

One uvicorn process on loopback (SQLite, the default model), its database filled directly
before it starts; a bare FastAPI endpoint beside it in the same run is the baseline. Printed:
the first, a deep and a largest page of the history, a page of the reports (medians over
requests, interleaved with the bare endpoint), the whole history as CSV, and the server's
resident memory before and after (its peak too). Before pages (issue 16), the whole history
was one answer: 13-14 s, 61 MB, the worker at 2.5 GiB.

Run: .venv/bin/python -m bench.bench_pages
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import insert

from app.api.pages import cursor_of
from app.store.db import migrate, open_database
from app.store.tables import CaseRow, ForecastRow, ReportRow
from bench.bench_service import TOKEN, uvicorn_process
from bench.common import engine
from models.artifact import DEFAULT_ARTIFACT
from models.contract import PAGE_MAX

CASE = "long-case"
POINTS, REPORTS = 100_000, 50_000
REQUESTS = 30
AT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


def fill(url: str, artifact_id: str) -> None:
    """One case with POINTS history points and REPORTS reports, written directly."""
    database = open_database(url)
    migrate(database)
    probabilities = [
        {"outcome": o, "mean": 0.3, "lower": 0.1, "upper": 0.6, "words": "unlikely"}
        for o in ("no_entry", "false_flag", "direct_invasion")
    ]
    with database.begin() as connection:
        connection.execute(
            insert(CaseRow),
            {"id": CASE, "title": "t", "state": "s", "target": "x", "kind": "start_war"}
            | {"horizon_days": 90, "created_at": AT, "opened_on": dt.date(2019, 1, 1)},
        )
        for start in range(0, POINTS, 10_000):
            connection.execute(
                insert(ForecastRow),
                [_point(n, artifact_id, probabilities) for n in range(start, start + 10_000)],
            )
        for start in range(0, REPORTS, 10_000):
            connection.execute(
                insert(ReportRow), [_report(n) for n in range(start, start + 10_000)]
            )
    database.dispose()


def _point(n: int, artifact_id: str, probabilities: list[dict[str, object]]) -> dict[str, object]:
    at = AT + dt.timedelta(minutes=n)
    point = {"recorded_at": at.isoformat(), "as_of": at.date().isoformat()}
    point |= {"artifact_id": artifact_id, "evidence_hash": "e" * 64, "reports_used": n}
    point |= {"probabilities": probabilities}
    row = {"case_id": CASE, "recorded_at": at, "as_of": at.date(), "artifact_id": artifact_id}
    return row | {"reports_hash": f"{n:064d}", "point": json.dumps(point)}


def _report(n: int) -> dict[str, object]:
    at = AT + dt.timedelta(minutes=n)
    row = {"case_id": CASE, "indicator": "covert_mobilization", "value": 1.0, "grade": "C"}
    return (
        row
        | {"observed_on": at.date(), "source": f"source {n}", "note": "", "known_at": at}
        | {"received_at": at}
    )


def rss_mib(process: subprocess.Popen[bytes]) -> tuple[float, float]:
    """The process's resident memory now and at its peak, MiB."""
    status = Path(f"/proc/{process.pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    now, peak = (float(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))
    return now, peak


def median_ms(client: httpx.Client, url: str, bare: str) -> tuple[float, float, int]:
    """Median ms of GET `url`, beside the bare endpoint's, and the answer's size."""
    ours, base, size = [], [], 0
    for _ in range(REQUESTS):
        started = time.perf_counter()
        answer = client.get(url)
        ours.append(time.perf_counter() - started)
        answer.raise_for_status()
        size = len(answer.content)
        started = time.perf_counter()
        client.get(bare).raise_for_status()
        base.append(time.perf_counter() - started)
    return statistics.median(ours) * 1e3, statistics.median(base) * 1e3, size


@contextmanager
def services() -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    artifact_id = engine().artifact.id
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        fill(url, artifact_id)
        env = {"ESC_DATABASE_URL": url, "ESC_WRITE_TOKEN": TOKEN}
        env |= {"ESC_ARTIFACT_PATH": str(DEFAULT_ARTIFACT)}
        with (
            uvicorn_process("app.main:create_app", env, factory=True) as (service, process),
            uvicorn_process("bench.bare_app:app", {}) as (bare, _),
        ):
            yield service, f"{bare}/bare", process


def main() -> None:
    with services() as (service, bare, process), httpx.Client(timeout=120) as client:
        history = f"{service}/v1/cases/{CASE}/forecast/history"
        client.get(history).raise_for_status()  # the first read after start
        before = rss_mib(process)[0]
        print(f"{POINTS:,} history points, {REPORTS:,} reports; RSS before {before:.0f} MiB")
        pages = {
            "history, first page (500)": history,
            "history, a page at the middle (500)": f"{history}?cursor={cursor_of((POINTS // 2,))}",
            f"history, a page of {PAGE_MAX:,}": f"{history}?limit={PAGE_MAX}",
            "reports, first page (500)": f"{service}/v1/cases/{CASE}/reports",
        }
        for name, url in pages.items():
            ours, base, size = median_ms(client, url, bare)
            print(f"{name:40s} median {ours:7.2f} ms ({size / 1024:6.0f} KiB); bare {base:5.2f} ms")
        started = time.perf_counter()
        with client.stream("GET", history, headers={"Accept": "text/csv"}) as answer:
            size = sum(len(chunk) for chunk in answer.iter_bytes())
        seconds = time.perf_counter() - started
        now, peak = rss_mib(process)
        print(f"{'history as CSV, whole':40s} {seconds:7.2f} s ({size / 2**20:.1f} MiB)")
        print(
            f"RSS after {now:.0f} MiB, peak {peak:.0f} MiB (before pages: 2.5 GiB for the history)"
        )


if __name__ == "__main__":
    main()
