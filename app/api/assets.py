"""The pages' static files, compressed and cached by content.

Every file under `app/static` is also served under a version of the whole tree,
`/static/<version>/<path>`, where the version is a hash of every file's content: the pages name
their assets that way (`Page`), and those answers may be kept for a year (`immutable`), since a
changed file changes the version and so every name. Relative module imports resolve under the
same version. The plain `/static/<path>` still answers, revalidated each time (`no-cache`, with
an ETag). Text files are sent gzipped to a client that accepts it, compressed once per process.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
COMPRESSED = {".js", ".css", ".svg", ".html", ".txt", ".md", ".json"}
VERSION = re.compile(r"[0-9a-f]{16}")
_VERSION_KEY = "escalation.asset_version"


@dataclass(frozen=True)
class Content:
    """A file's bytes as served: plain, gzipped (if worth it), its type and its ETag."""

    plain: bytes
    gzipped: bytes | None
    media_type: str
    etag: str

    def response(self, scope: Scope, cache_control: str) -> Response:
        """200 or 304, gzipped if the client takes it, always saying so (`Vary`)."""
        request = Headers(scope=scope)
        gzipped = self.gzipped is not None and "gzip" in request.get("accept-encoding", "")
        etag = f'"{self.etag}-gz"' if gzipped else f'"{self.etag}"'
        headers = {"cache-control": cache_control, "etag": etag, "vary": "Accept-Encoding"}
        if etag in request.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        if gzipped:
            headers["content-encoding"] = "gzip"
        body = self.gzipped if gzipped and self.gzipped is not None else self.plain
        return Response(body, headers=headers, media_type=self.media_type)


def content_of(data: bytes, name: str) -> Content:
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if media_type.startswith("text/") or media_type.endswith(("javascript", "json", "+xml")):
        media_type += "; charset=utf-8"
    gzipped = gzip.compress(data, 9, mtime=0) if Path(name).suffix in COMPRESSED else None
    if gzipped is not None and len(gzipped) >= len(data):
        gzipped = None
    return Content(data, gzipped, media_type, hashlib.sha256(data).hexdigest()[:16])


@lru_cache(maxsize=512)
def _file(path: str, mtime_ns: int, size: int) -> Content:
    """A file's content, read and compressed once while it is unchanged."""
    return content_of(Path(path).read_bytes(), path)


@lru_cache(maxsize=8)
def _version(listing: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for path, mtime_ns, size in listing:
        digest.update(f"{path}\0".encode())
        digest.update(bytes.fromhex(_file(path, mtime_ns, size).etag))
    return digest.hexdigest()[:16]


def version_of(directory: Path) -> str:
    """A hash of every file's name and content under `directory` (hashed once while none of
    them changes: a listing of their sizes and times is all a start-up pays)."""
    listing = []
    for root, _, names in os.walk(directory):
        for name in names:
            stat = os.stat(full := os.path.join(root, name))
            listing.append((full, stat.st_mtime_ns, stat.st_size))
    return _version(tuple(sorted(listing)))


class Assets(StaticFiles):
    """`app/static`, mounted at /static: under its version for a year, plainly revalidated."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory=directory, check_dir=False)
        self.version = version_of(directory) if directory.is_dir() else "0" * 16

    def get_path(self, scope: Scope) -> str:
        path = super().get_path(scope)
        first, _, rest = path.partition(os.sep)
        if rest and VERSION.fullmatch(first):
            scope[_VERSION_KEY] = first
            return rest
        return path

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        content = _file(str(full_path), stat_result.st_mtime_ns, stat_result.st_size)
        # Another version's name (a page loaded before a deploy) gets today's file, revalidated.
        current = scope.get(_VERSION_KEY) == self.version
        return content.response(scope, IMMUTABLE if current else REVALIDATE)


class Page:
    """An HTML page of `app/static` whose asset names carry the assets' version, served
    revalidated (`no-cache`): a deploy shows at the next load."""

    def __init__(self, assets: Assets, name: str) -> None:
        self._assets = assets
        self._path = Path(assets.directory or "") / name

    def response(self, scope: Scope) -> Response:
        stat = self._path.stat()
        return _page(str(self._path), stat.st_mtime_ns, self._assets.version).response(
            scope, REVALIDATE
        )


@lru_cache(maxsize=32)
def _page(path: str, mtime_ns: int, version: str) -> Content:
    html = Path(path).read_text(encoding="utf-8")
    return content_of(html.replace('"/static/', f'"/static/{version}/').encode(), path)
