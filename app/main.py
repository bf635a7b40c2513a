"""The app factory. The lifespan opens the process's forecast service (`app.service`: the schema
brought up to date, the posterior artifact loaded once, without pymc); a missing or invalid
artifact leaves the app alive but not ready (`/readyz` says why)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from prometheus_client import CollectorRegistry

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
from app.errors import install_error_handlers
from app.limits import BodyLimits
from app.metrics import RequestMetrics
from app.process import tune_serving_process
from app.security import SecurityMiddleware, WrongTokens
from app.service import ForecastService
from app.settings import Settings, get_settings


def api_routes() -> APIRouter:
    """Every route, with the dependencies and documented responses its router shares. FastAPI
    builds an included route's handler, dependencies and response models on the first request
    to the app that included it (184 ms an app on the test machine), so the apps of one process
    (the tests make hundreds) share the routes built once here. The price: these routes do not
    see `app.dependency_overrides`, which nothing here uses.

    A request is matched against the routes in this order, each path pattern tried in turn:
    the POST of reports and the forecast's routes (the polls) come first. No two
    patterns match one path, so the order changes nothing else."""
    routes = APIRouter()
    routes.include_router(reports.posting)
    for module in (
        forecast,
        reports,
        contract,
        indicators,
        model,
        cases,
        whatif,
        events,
        key_routes,
        alerts,
        resolution,
    ):
        routes.include_router(module.router, dependencies=[ReaderDep], responses=READ)
    routes.include_router(health.router, responses=errors(400, 500))
    routes.include_router(dashboard.router)
    routes.include_router(metrics.router, dependencies=[ReaderDep], responses=READ)
    return routes


API_ROUTES = api_routes()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    wrong_tokens, registry = WrongTokens(), CollectorRegistry()  # before the lifespan: middleware

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service = ForecastService.open(settings, wrong_tokens, registry)
        app.state.service = service
        tune_serving_process()
        yield
        await service.close()

    app = FastAPI(
        title="escalation-forecast",
        summary="Calibrated probabilities for how a crisis ends, from graded intelligence reports.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # served from the repository's assets instead (`routes.dashboard`)
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(BodyLimits)
    app.add_middleware(SecurityMiddleware)
    app.add_middleware(RequestMetrics, registry=registry)  # outermost: sees all
    app.router.routes.extend(API_ROUTES.routes)
    app.mount("/static", dashboard.assets, name="static")
    app.openapi = lambda: openapi_with_catalog(app)  # type: ignore[method-assign]
    return app


def openapi_with_catalog(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, naming the indicators the loaded catalog knows wherever one is
    asked for (a client, or a fuzzer, then knows what a valid report is). Built once the
    model is loaded; until then without the names, and built again at the next request."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    document = FastAPI.openapi(app)
    service: ForecastService | None = getattr(app.state, "service", None)
    engine = service.engine if service is not None else None
    if engine is None:
        app.openapi_schema = None
        return document
    names = list(engine.catalog.ids)
    document["components"]["schemas"]["ReportIn"]["properties"]["indicator"]["enum"] = names
    for parameter in document["paths"]["/v1/cases/{case_id}/reports"]["get"]["parameters"]:
        if parameter["name"] == "indicator":
            parameter["schema"]["anyOf"][0]["enum"] = names
    return document
