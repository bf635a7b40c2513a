"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from models.engine import Engine
from models.errors import ArtifactError


def get_engine(request: Request) -> Engine:
    """The loaded engine; a 503 (via ArtifactError) while no valid artifact is loaded."""
    engine: Engine | None = request.app.state.engine
    if engine is None:
        raise ArtifactError(request.app.state.engine_error or "model not loaded")
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]
