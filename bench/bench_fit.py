"""`forecast fit` wall time and peak memory, from a cold compile cache and then a warm one.

Each run is a fresh process (`forecast fit --quiet`) with PyTensor's compile directory pointed at
a temporary folder: the first run compiles everything, the second reuses the disk cache.

Run: .venv/bin/python bench/bench_fit.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FORECAST = Path(sys.executable).with_name("forecast")


def run_fit(cache: Path, artifact: Path) -> tuple[float, float]:
    """Wall seconds and the child's peak resident memory (MiB) of one `forecast fit`."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={cache}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [str(FORECAST), "fit", "--quiet", "--artifact", str(artifact)],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        cache, artifact = Path(scratch) / "pytensor", Path(scratch) / "posterior.npz"
        cold = run_fit(cache, artifact)
        warm = [run_fit(cache, artifact) for _ in range(3)]
        with np.load(artifact, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
    walls = sorted(wall for wall, _ in warm)
    diagnostics, sampler = meta["diagnostics"], meta["sampler"]
    verdict = "passed" if diagnostics["passed"] else "FAILED"
    print(
        f"cold compile cache: {cold[0]:6.1f} s wall, peak RSS {cold[1]:.0f} MiB  (target <= 60 s)"
    )
    print(
        f"warm compile cache: {walls[1]:6.1f} s wall, median of 3 "
        f"(min {walls[0]:.1f}, max {walls[2]:.1f}); includes the leave-one-family-out evaluation"
    )
    print(f"in-process fit (last run): {meta['fit_seconds']:.1f} s")
    print(f"diagnostics: {diagnostics['summary']} -> {verdict}")
    chains, draws, tune = sampler["chains"], sampler["draws"], sampler["tune"]
    print(f"sampler: nutpie, {chains} chains x {draws} draws + {tune} tuning steps")


if __name__ == "__main__":
    main()
