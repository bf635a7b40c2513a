"""A task of a process's own, started with its service and cancelled when the service closes."""

from __future__ import annotations

import asyncio
import contextlib


class Background:
    """Runs `_run` as a task of the event loop between `start` and `close`."""

    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        raise NotImplementedError
