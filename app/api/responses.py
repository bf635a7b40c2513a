"""What each route may answer besides its success, for the OpenAPI document: every status a
route can return, each with the error body's schema (`app.schemas.ErrorBody`)."""

from __future__ import annotations

from typing import Any

from app.schemas import ErrorBody

REASONS = {
    400: "A credential in the URL, or a body that is not JSON",
    401: "No valid key: none, unknown or revoked (writes; reads when the service requires it)",
    403: "The key's role may not do this (reader < analyst < admin)",
    404: "No such case or report",
    409: "Conflicts with what is stored (an existing case id, an idempotency key reused)",
    413: "Body over the size limit",
    415: "Body not sent as application/json",
    422: "Invalid input: where, and why",
    429: "Too many wrong tokens from this address, or too many costly requests waiting",
    500: "An unexpected error (logged)",
    503: "No model loaded, the database unavailable, or writes disabled (no key set)",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: these statuses, with the error body."""
    return {
        status: {"model": ErrorBody, "description": REASONS[status]}
        | ({"headers": RETRY_AFTER} if status == 429 else {})
        for status in statuses
    }


READ = errors(400, 401, 422, 429, 500, 503)
"""What any data route may answer (401 and 429 when reads need the token)."""
CASE = errors(404)
WRITE = errors(401, 403, 429, 503)
"""What a write adds: its key and role."""
BODY = errors(413, 415)
"""What a request with a body adds."""
