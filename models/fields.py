"""Field types for what is read from outside (requests, scenario and data files): text that every
database stores as given, and dates written as dates."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, StringConstraints

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
"""Control characters other than tab and line breaks: PostgreSQL refuses NUL in text, and none
of them belongs in a report or a name."""


def storable(value: str) -> str:
    """`value`, if every backend can store it as given (ValueError naming the fault otherwise):
    valid Unicode (a lone surrogate has no UTF-8 form) without control characters."""
    if bad := _CONTROL.search(value):
        position = bad.start()
        raise ValueError(f"control character U+{ord(bad.group()):04X} at position {position}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"not valid Unicode (a lone surrogate at position {exc.start})") from None
    return value


Text = Annotated[
    str, StringConstraints(min_length=1, strip_whitespace=True), AfterValidator(storable)
]
"""Free text: not blank, storable."""

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: object) -> object:
    """Only YYYY-MM-DD text (or a date) is a date: pydantic alone would also read a number as a
    Unix timestamp (1658188800 as 2022-07-19) and a datetime as its day, silently."""
    written = isinstance(value, str) and _ISO_DATE.fullmatch(value)
    if not (written or (isinstance(value, dt.date) and not isinstance(value, dt.datetime))):
        raise ValueError("a date is written YYYY-MM-DD (like 2022-07-19)")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]


def _moment(value: object) -> object:
    """A moment is a date (its start, UTC) or an ISO 8601 date and time with its offset: a
    time without one would be read in whatever zone the reader's machine is in."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime.combine(value, dt.time(), dt.UTC)
    elif isinstance(value, str) and _ISO_DATE.fullmatch(value):
        moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "a moment is a date (2022-07-19) or a date and time with its offset "
                "(2022-07-19T08:30:00Z)"
            ) from None
    else:
        raise ValueError("a moment is written as text: 2022-07-19 or 2022-07-19T08:30:00Z")
    if moment.tzinfo is None:
        raise ValueError("give the time's offset (2022-07-19T08:30:00Z, or +03:00)")
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:  # a moment at the very edge of the calendar
        raise ValueError("a moment between the years 1 and 9999") from None


Moment = Annotated[dt.datetime, BeforeValidator(_moment)]
"""A moment in UTC, read from a date (its start) or a date and time with an offset."""
