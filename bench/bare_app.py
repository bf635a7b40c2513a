"""The baseline for bench_service: a bare FastAPI endpoint served the same way as the service."""

from __future__ import annotations

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
def bare() -> dict[str, str]:
    return {"status": "ok"}
