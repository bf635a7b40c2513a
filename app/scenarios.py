"""Scenario text sent to the service is parsed in a worker process, within a time and a memory
bound: a request whose parse runs over is refused and its worker killed (a thread cannot be
stopped), and the parse never holds the service's interpreter lock, so polls do not queue
behind it (measured with `bench.bench_whatif`: eight clients of the costliest scenario raised
the poll p99 from about 1 ms to 24-33 ms on threads, to 6-7 ms with the worker). One worker,
started on first use; the requests that need it are admitted one at a time
(`app.limits.CostlyWork`).

Workers are forked from multiprocessing's fork server, a single-threaded process that has
imported this module once: forking the service itself is unsafe (it has threads), and spawning
a fresh interpreter costs about 0.3 s a worker, where a fork from the server costs about 20 ms
(the first worker of a process still pays for starting the server). That is what a worker
killed for running over costs the next request, and what each app built in the tests costs."""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
from multiprocessing.pool import Pool
from pathlib import Path

from models.catalog import Catalog, load_catalog
from models.errors import ScenarioError
from models.scenario import LoadedScenario, parse_scenario

PARSE_SECONDS = 5.0
"""Longest a parse may take: the costliest scenario within the limits takes about 50 ms."""
WORKER_MEMORY_BYTES = 2 * 1024**3
"""Address space a worker may map: a parse that needs more fails with MemoryError."""


class ScenarioReader:
    """Parses scenarios against the catalog at `catalog_path`, in a worker process."""

    def __init__(self, catalog_path: Path) -> None:
        self._catalog_path = catalog_path
        self._pool: Pool | None = None

    async def read(self, text: str, source: str) -> LoadedScenario:
        """The scenario, validated (ScenarioError when it is invalid or too costly)."""
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])  # no effect once the server runs
            self._pool = context.Pool(1, _start_worker, (self._catalog_path,))
        pending = self._pool.apply_async(_parse, (text, source))
        try:
            return await asyncio.to_thread(pending.get, PARSE_SECONDS)
        except multiprocessing.TimeoutError:
            self.close()  # the next request starts a fresh worker
            raise ScenarioError(source, f"took over {PARSE_SECONDS:.0f} s to read") from None
        except MemoryError:
            raise ScenarioError(source, "needs too much memory to read") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


_catalog: Catalog | None = None


def _start_worker(catalog_path: Path) -> None:
    global _catalog
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    _catalog = load_catalog(catalog_path)


def _parse(text: str, source: str) -> LoadedScenario:
    assert _catalog is not None, "the worker starts with its catalog"
    return parse_scenario(text, source, _catalog)
