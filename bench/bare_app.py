"""The baseline for the benchmarks: a bare FastAPI endpoint served the same way as the service.

"The same way" includes the service's process tuning (`tune_serving_process`, in the lifespan
as the service applies it): the baseline runs under the same transport, which imports the
service's modules (some 126,000 objects), and without the tuning the garbage collector's
pauses over them are its tail. Measured on 4 December 2026, wrk at 32 connections, three
interleaved runs: untuned, 2,501-3,305 req/s, p99 74-97 ms; tuned, 2,779-3,961 req/s, p99
14-21 ms; uvicorn's plain httptools protocol (no service modules) 2,991-3,713 req/s, p99
33-41 ms. An untuned baseline flattered every figure set beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.process import tune_serving_process


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    tune_serving_process()
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/bare")
def bare() -> dict[str, str]:
    return {"status": "ok"}
