"""`forecast run` on the whole scenario library, each time from a fresh process, beside a bare
Python start measured in the same run (a shared machine's speed drifts: compare the ratio).

The first run is reported apart (the files are least likely to be in the page cache); then the
median of `REPEATS`. The artifact must exist (`make fit`, or any earlier `make serve`).

Run: .venv/bin/python -m bench.bench_cli
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common import engine

FORECAST = Path(sys.executable).with_name("forecast")
LIBRARY = sorted(str(path) for path in Path("scenarios").glob("*.yaml"))
REPEATS = 7
TARGET_SECONDS = 3.0


def wall(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    engine()  # fit the default artifact if there is none
    library = [str(FORECAST), "run", *LIBRARY, "--json"]
    one = [str(FORECAST), "run", LIBRARY[0], "--json"]
    bare = [sys.executable, "-c", "pass"]
    first = wall(library)
    runs: dict[str, list[float]] = {name: [] for name in ("library", "one", "bare")}
    for _ in range(REPEATS):  # interleaved, so that a drift touches all three alike
        runs["library"].append(wall(library))
        runs["one"].append(wall(one))
        runs["bare"].append(wall(bare))
    median = {name: statistics.median(times) for name, times in runs.items()}
    per_scenario = (median["library"] - median["one"]) / max(len(LIBRARY) - 1, 1)
    print(f"forecast run on the library ({len(LIBRARY)} scenarios), fresh process each time")
    print(f"first run:            {first:6.2f} s  (target <= {TARGET_SECONDS:.0f} s)")
    print(
        f"median of {REPEATS}:          {median['library']:6.2f} s"
        f"  (range {min(runs['library']):.2f}-{max(runs['library']):.2f})"
    )
    print(f"one scenario:         {median['one']:6.2f} s; each further one {per_scenario:.3f} s")
    print(
        f"bare python start:    {median['bare']:6.2f} s;"
        f" library run / bare start = {median['library'] / median['bare']:.1f}x"
    )


if __name__ == "__main__":
    main()
