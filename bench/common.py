"""Shared pieces of the benchmarks: timing with medians, the artifact they measure."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from models.artifact import DEFAULT_ARTIFACT, Artifact, save_artifact
from models.catalog import load_catalog
from models.engine import Engine
from models.errors import ArtifactError


def timings(function: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    """Wall-clock seconds of `repeats` calls, after `warmup` untimed calls."""
    for _ in range(warmup):
        function()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return samples


def alternating(functions: Sequence[Callable[[], object]], repeats: int) -> list[list[float]]:
    """Wall-clock seconds of `repeats` calls of each function, the functions called in turn
    (after one untimed round), so that the machine's drift falls on all of them alike."""
    samples: list[list[float]] = [[] for _ in functions]
    for round_ in range(repeats + 1):
        for function, times in zip(functions, samples, strict=True):
            started = time.perf_counter()
            function()
            if round_:
                times.append(time.perf_counter() - started)
    return samples


def describe(samples: list[float]) -> str:
    """Median and interquartile range, in milliseconds (shared machines are noisy)."""
    q1, median, q3 = statistics.quantiles(samples, n=4)
    return f"median {median * 1e3:9.3f} ms  (IQR {q1 * 1e3:.3f}-{q3 * 1e3:.3f}, n={len(samples)})"


def engine(path: Path = DEFAULT_ARTIFACT) -> Engine:
    """The served engine, fitting the default model first if no valid artifact exists."""
    try:
        return Engine.load(path)
    except ArtifactError:
        from models.fit import fit
        from models.reference import load_reference

        catalog = load_catalog()
        artifact: Artifact = fit(catalog, load_reference(catalog), progress=False)[0]
        save_artifact(artifact, path)
        return Engine.load(path)
