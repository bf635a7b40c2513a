"""The app factory. The lifespan brings the database schema up to date and loads the posterior
artifact once per process (no pymc import); a missing or invalid artifact leaves the app alive
but not ready (`/readyz` says why)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.orm import sessionmaker

from app.api.deps import ReaderDep
from app.api.routes import cases, forecast, health, indicators, model, reports, whatif
from app.errors import install_error_handlers
from app.limits import BodyLimits
from app.settings import Settings, get_settings
from app.store.db import make_engine, migrate
from app.writer import ReportWriter
from models.engine import Engine
from models.errors import ArtifactError


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = make_engine(settings.database_url)
        migrate(database)
        app.state.database = database
        app.state.sessions = sessionmaker(database, expire_on_commit=False)
        app.state.writer = ReportWriter(app.state.sessions)
        app.state.engine = None
        app.state.engine_error = None
        try:
            app.state.engine = Engine.load(
                settings.artifact_path, settings.catalog_path, settings.reference_path
            )
        except ArtifactError as exc:
            app.state.engine_error = str(exc)
        yield
        app.state.writer.close()
        database.dispose()

    app = FastAPI(
        title="escalation-forecast",
        summary="Calibrated probabilities for how a crisis ends, from graded intelligence reports.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_middleware(BodyLimits)
    app.include_router(health.router)
    for module in (indicators, model, cases, reports, forecast, whatif):
        app.include_router(module.router, dependencies=[ReaderDep])
    return app
