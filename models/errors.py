"""Domain errors. They know nothing of HTTP: the service maps them to status codes in one place."""

from __future__ import annotations


class ForecastError(Exception):
    """Base class: every error this package raises on purpose."""


class InputError(ForecastError):
    """Invalid input, located: `where` names the file, line and key (or the field) at fault."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason

    def __reduce__(self) -> tuple[type[InputError], tuple[str, str]]:
        """Pickled by its parts (it crosses from a worker process, `app.scenarios`)."""
        return type(self), (self.where, self.reason)


class CatalogError(InputError):
    """The indicator catalog is invalid."""


class ReferenceDataError(InputError):
    """The reference-case file is invalid."""


class ScenarioError(InputError):
    """A scenario file is invalid."""


class EvidenceError(InputError):
    """A report cannot be used as evidence (unknown indicator, value out of range, future date)."""


class ArtifactError(ForecastError):
    """The posterior artifact is missing, corrupt, stale or failed its diagnostics."""


class NotFoundError(InputError):
    """Something named in a request does not exist (a case, a report)."""


class ConflictError(InputError):
    """The request would duplicate or contradict what is stored."""
