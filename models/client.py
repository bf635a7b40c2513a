"""The service, as the `forecast` command talks to it (`import`, `keys`): over HTTP, with a key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from models.errors import InputError

TOKEN_FILE = Path("var/write-token")
"""Where `make serve` keeps the first admin key it generated, relative to the repository."""


class ServiceError(InputError):
    """The service cannot be reached, or refused a request: its reason."""


class Service:
    """The service at `url`, with a key (bearer token)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        auth = {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(base_url=self.url, headers=auth, timeout=60)

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def read(self, path: str) -> Any:
        """GET `path`'s JSON (ServiceError with the service's reason unless a 200)."""
        return self.expect(200, "GET", path)

    def expect(self, status: int, method: str, path: str, body: object = None) -> Any:
        """The JSON of a request answered with `status` (ServiceError otherwise)."""
        answer = self.send(method, path, body)
        if answer.status_code != status:
            raise ServiceError(f"{method} {self.url}{path}", detail(answer))
        return answer.json()

    def send(self, method: str, path: str, body: object = None) -> httpx.Response:
        try:
            return self._http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ServiceError(self.url, f"the service cannot be reached ({exc})") from None


def token_from_file() -> str:
    """The key `make serve` generated, for commands run from the repository."""
    try:
        return TOKEN_FILE.read_text().strip()
    except OSError:
        reason = f"give --token (or ESC_WRITE_TOKEN), or run where {TOKEN_FILE} is"
        raise ServiceError("no key", reason) from None


def detail(answer: httpx.Response) -> str:
    """The service's reason for a refusal (`{"detail": [{"loc", "msg"}]}`), in one line."""
    try:
        items = answer.json()["detail"]
        reasons = "; ".join(f"{location(item['loc'])}: {item['msg']}" for item in items)
    except (ValueError, KeyError, TypeError):
        reasons = answer.text[:200]
    return f"{answer.status_code}: {reasons}"


def location(loc: str | list[str | int]) -> str:
    return loc if isinstance(loc, str) else ".".join(map(str, loc))
