"""The service's settings: one typed class, read from ESC_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.artifact import DEFAULT_ARTIFACT
from models.catalog import DEFAULT_CATALOG
from models.reference import DEFAULT_REFERENCE


class Settings(BaseSettings):
    """Where the model, its inputs and the data live, the write token, and how alerts are
    delivered. Nothing else in the service reads the environment."""

    model_config = SettingsConfigDict(env_prefix="ESC_", extra="forbid")

    artifact_path: Path = DEFAULT_ARTIFACT
    catalog_path: Path = DEFAULT_CATALOG
    reference_path: Path = DEFAULT_REFERENCE
    database_url: str = "sqlite:///var/escalation.db"
    # No default: without a token every write is refused.
    write_token: SecretStr | None = None
    # Reads are open unless this is set; then they need the same token as writes.
    read_token_required: bool = False
    # Where reports are written: by a process of the service's own (a second core: about 1.6x
    # the POSTs a second), or by a thread of each serving process (one process in all: for
    # embedding it, and for the tests, which start hundreds of apps).
    writer: Literal["process", "thread"] = "process"
    # Where `make serve` listens (a container sets ESC_HOST=0.0.0.0).
    host: str = "127.0.0.1"
    port: int = 8000
    # The service's address as its users reach it, for the links in alerts (default: where
    # it listens).
    public_url: str | None = None
    # The hosts alerts may be delivered to (a JSON list); any host when unset. An operator
    # keeps webhooks off the internal network with it.
    alert_hosts: list[str] | None = None
    # Alert delivery: how often each process looks for what is due; the first retry's wait
    # (doubling, at most an hour); attempts before a delivery is abandoned (12: about 5 h);
    # how long a process may take over one before another takes it (should the first die);
    # a receiver's time to answer; how often cases with ageing rules are brought up to date.
    alert_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 0.5
    alert_retry_seconds: Annotated[float, Field(gt=0, le=3600)] = 10.0
    alert_attempts: Annotated[int, Field(ge=1, le=100)] = 12
    alert_lease_seconds: Annotated[float, Field(gt=0, le=3600)] = 60.0
    alert_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    alert_ageing_seconds: Annotated[float, Field(gt=0, le=86400)] = 300.0


@lru_cache
def get_settings() -> Settings:
    return Settings()
