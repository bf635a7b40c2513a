"""The service's settings: one typed class, read from ESC_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.artifact import DEFAULT_ARTIFACT
from models.catalog import DEFAULT_CATALOG
from models.reference import DEFAULT_REFERENCE


class Settings(BaseSettings):
    """Where the model, its inputs and the data live, and the write token. Nothing else in the
    service reads the environment."""

    model_config = SettingsConfigDict(env_prefix="ESC_", extra="forbid")

    artifact_path: Path = DEFAULT_ARTIFACT
    catalog_path: Path = DEFAULT_CATALOG
    reference_path: Path = DEFAULT_REFERENCE
    database_url: str = "sqlite:///var/escalation.db"
    # No default: without a token every write is refused.
    write_token: SecretStr | None = None
    # Reads are open unless this is set; then they need the same token as writes.
    read_token_required: bool = False
    # Where `make serve` listens (a container sets ESC_HOST=0.0.0.0).
    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache
def get_settings() -> Settings:
    return Settings()
