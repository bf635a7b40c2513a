"""The app factory. The lifespan brings the database schema up to date and loads the posterior
artifact once per process (no pymc import); a missing or invalid artifact leaves the app alive
but not ready (`/readyz` says why)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine as Database
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.alerts import AlertDelivery
from app.api.deps import ReaderDep
from app.api.responses import READ, errors
from app.api.routes import (
    alerts,
    cases,
    contract,
    dashboard,
    events,
    forecast,
    health,
    indicators,
    metrics,
    model,
    reports,
    resolution,
    whatif,
)
from app.api.routes import (
    keys as key_routes,
)
from app.api.routes.forecast import current
from app.errors import install_error_handlers
from app.events import ForecastEvents
from app.forecasting import today
from app.limits import BodyLimits, CostlyWork
from app.live import LocalPolls, Served
from app.metrics import RequestMetrics
from app.process import tune_serving_process
from app.scenarios import ScenarioReader
from app.security import SecurityMiddleware, WrongTokens
from app.settings import Settings, get_settings
from app.store import keys
from app.store.cases import begin_writing
from app.store.db import (
    StorageProbe,
    make_engine,
    migrate,
    sessions,
    sqlite_path,
    unwritable,
)
from app.timeline import PastModels, PointCache
from app.writer import ReportWriter
from models.artifact import keep_archived
from models.engine import Engine
from models.errors import ArtifactError

log = logging.getLogger("escalation")


def close_database(database: Database, local_polls: LocalPolls | None) -> None:
    """Close every connection, unless a SQLite file cannot be written: closing would then kill
    the process with SIGBUS (`app.store.db.require_writable`), and its end closes them anyway."""
    path = sqlite_path(database)
    if path is not None and (stuck := unwritable(path)) is not None:
        log.error("leaving the database's connections open at exit: %s cannot be written", stuck)
        return
    if local_polls is not None:
        local_polls.close()
    database.dispose()


def first_admin_key(open_session: Callable[[], Session], secret: str) -> None:
    """Store the configured token as an admin key named "admin", unless it is a key already
    (several workers starting at once: one of them stores it). The write lock is taken before
    the key is looked for: on SQLite, a read that then writes fails at once ("database is
    locked") when another worker has written since the read began, and the worker with it."""
    with open_session() as session:
        begin_writing(session)
        try:
            keys.ensure_key(session, secret, "admin", "admin")
        except IntegrityError:
            session.rollback()


def archive(engine: Engine, path: Path) -> None:
    """Keep the served model in the artifact archive, so that what it served can be replayed
    after the next fit; a read-only model directory loses only that."""
    try:
        keep_archived(engine.artifact, path)
    except OSError as exc:
        log.warning("cannot keep %s in the archive (%s)", engine.artifact.id, exc)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        database = make_engine(settings.database_url)
        migrate(database)
        app.state.database = database
        app.state.storage = StorageProbe(database)
        sqlite = database.dialect.name == "sqlite"
        app.state.local_polls = LocalPolls(database) if sqlite else None
        app.state.sessions = sessions(database)
        if settings.write_token is not None:  # the configured token: the first admin key
            first_admin_key(app.state.sessions, settings.write_token.get_secret_value())
        app.state.writer = ReportWriter(app.state.sessions)
        app.state.costly_work = CostlyWork()
        app.state.replays = CostlyWork(running=2, waiting=32)
        app.state.timeline_points = PointCache()
        app.state.scenarios = ScenarioReader(settings.catalog_path)
        app.state.engine = None
        app.state.engine_error = None
        try:
            app.state.engine = Engine.load(
                settings.artifact_path, settings.catalog_path, settings.reference_path
            )
            archive(app.state.engine, settings.artifact_path)
        except ArtifactError as exc:
            app.state.engine_error = str(exc)
            log.error("not ready: %s", exc)
        app.state.past_models = PastModels(settings.artifact_path)

        def now_served(case_id: str) -> Awaitable[Served]:
            return current(app.state, app.state.engine, case_id, today())

        app.state.events = ForecastEvents(now_served)
        # Without a model no forecast ages: only what is in the outbox is delivered.
        ageing = now_served if app.state.engine is not None else None
        app.state.alerts = AlertDelivery(settings, app.state.sessions, ageing)
        app.state.alerts.start()
        tune_serving_process()
        yield
        await app.state.alerts.close()
        await app.state.events.close()
        app.state.scenarios.close()
        app.state.writer.close()
        close_database(database, app.state.local_polls)

    app = FastAPI(
        title="escalation-forecast",
        summary="Calibrated probabilities for how a crisis ends, from graded intelligence reports.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from the repository's assets instead (`routes.dashboard`)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = CollectorRegistry()
    app.state.wrong_tokens = WrongTokens()
    install_error_handlers(app)
    app.add_middleware(BodyLimits)
    app.add_middleware(SecurityMiddleware)
    app.add_middleware(RequestMetrics, registry=app.state.metrics)  # outermost: sees all
    app.include_router(health.router, responses=errors(400, 500))
    app.include_router(dashboard.router)
    app.mount("/static", dashboard.assets, name="static")
    app.include_router(metrics.router, dependencies=[ReaderDep], responses=READ)
    for module in (
        contract,
        indicators,
        model,
        cases,
        reports,
        forecast,
        whatif,
        events,
        key_routes,
        alerts,
        resolution,
    ):
        app.include_router(module.router, dependencies=[ReaderDep], responses=READ)
    app.openapi = lambda: openapi_with_catalog(app)  # type: ignore[method-assign]
    return app


def openapi_with_catalog(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, naming the indicators the loaded catalog knows wherever one is
    asked for (a client, or a fuzzer, then knows what a valid report is). Built once the
    model is loaded; until then without the names, and built again at the next request."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = FastAPI.openapi(app)
    engine: Engine | None = app.state.engine if hasattr(app.state, "engine") else None
    if engine is None:
        app.openapi_schema = None
        return document
    names = list(engine.catalog.ids)
    document["components"]["schemas"]["ReportIn"]["properties"]["indicator"]["enum"] = names
    for parameter in document["paths"]["/v1/cases/{case_id}/reports"]["get"]["parameters"]:
        if parameter["name"] == "indicator":
            parameter["schema"]["anyOf"][0]["enum"] = names
    return document
