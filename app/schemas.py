"""Request and response bodies (pydantic 2). Unknown fields are refused."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class CaseIn(BaseModel):
    """A case to watch: the state that may enter the war, its target and (if any) its patron."""

    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    state: Name
    target: Name
    patron: Name | None = None
    horizon_days: Annotated[int, Field(gt=0, le=3650)] = 90


class CaseOut(CaseIn):
    model_config = ConfigDict(from_attributes=True)

    created_at: dt.datetime
