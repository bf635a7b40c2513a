"""`make serve`: fit the model if needed, prepare the database, print the URL and token, serve.

A second start finds the artifact and the data in place: no fitting, no pymc import."""

from __future__ import annotations

import copy
import faulthandler
import os
import secrets
import sys
from typing import Any

import uvicorn
from sqlalchemy.orm import Session

from app.seed import seed_article_case
from app.settings import Settings, get_settings
from app.store.db import migrate, open_database
from app.transport import BoundedHttpTools
from models.agreement import second_coding_beside
from models.artifact import load_artifact, save_artifact
from models.catalog import Catalog, load_catalog
from models.client import TOKEN_FILE
from models.errors import ArtifactError
from models.reference import load_reference

SHUTDOWN_GRACE_SECONDS = 5
MAX_CONNECTIONS = 1000


def ensure_artifact(settings: Settings, catalog: Catalog) -> None:
    """Fit and save the model when no valid artifact exists (progress shown)."""
    reference = load_reference(catalog, settings.reference_path)
    try:
        load_artifact(settings.artifact_path, catalog, reference.fingerprint)
        return
    except ArtifactError as exc:
        print(f"{exc}\nFitting the model now (about a minute the first time) ...", flush=True)
    from models.fit import fit  # pymc only when a fit is needed

    second = second_coding_beside(catalog, settings.reference_path)
    artifact, _ = fit(
        catalog,
        reference,
        say=lambda step: print(f"  {step} ...", flush=True),
        second_coding=second,
    )
    if not artifact.meta["diagnostics"]["passed"]:
        sys.exit(f"the fit failed its diagnostics ({artifact.meta['diagnostics']['summary']})")
    save_artifact(artifact, settings.artifact_path)


def ensure_database(settings: Settings, catalog: Catalog) -> None:
    """Bring the schema up to date and load the article's case into an empty store."""
    database = open_database(settings.database_url)
    migrate(database)
    with Session(database) as session:
        if seed_article_case(session, catalog):
            print("Loaded the article's case: belarus-ukraine-2022")
    database.dispose()


def write_token(settings: Settings) -> str:
    """The configured token, else the one generated at a previous start, else a new one."""
    if settings.write_token is not None:
        return settings.write_token.get_secret_value()
    if TOKEN_FILE.is_file():
        return TOKEN_FILE.read_text().strip()
    token = secrets.token_urlsafe(24)
    TOKEN_FILE.parent.mkdir(parents=True, exist_ok=True)
    TOKEN_FILE.write_text(token + "\n")
    TOKEN_FILE.chmod(0o600)
    return token


def main() -> None:
    faulthandler.enable()  # a fatal signal (SIGBUS from a vanished file) leaves a traceback
    settings = get_settings()
    catalog = load_catalog(settings.catalog_path)
    ensure_artifact(settings, catalog)
    ensure_database(settings, catalog)
    token = write_token(settings)
    os.environ["ESC_WRITE_TOKEN"] = token  # for the app (and any worker) built below
    get_settings.cache_clear()
    print(f"Serving on http://{settings.host}:{settings.port}  (API docs at /docs)")
    print(f"Write token: {token}  (send as: Authorization: Bearer <token>)", flush=True)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_config=log_config(),
        http=BoundedHttpTools,
        # Open event streams (dashboards) would otherwise hold a shutdown until they close.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
        # Beyond this many open connections, new ones get a 503 rather than memory and time.
        limit_concurrency=MAX_CONNECTIONS,
    )


def log_config() -> dict[str, Any]:
    """uvicorn's logging, plus the service's own log (`escalation`: storage faults, readiness,
    unexpected errors) on the same stream, and no credential from a URL in the access log."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["filters"] = {"redact": {"()": "app.security.RedactCredentials"}}
    config["handlers"]["access"]["filters"] = ["redact"]
    config["loggers"]["escalation"] = {"handlers": ["default"], "level": "INFO"}
    return config


if __name__ == "__main__":
    main()
