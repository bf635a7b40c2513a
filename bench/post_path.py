"""The files and functions of the repository that one POST of a report passes through: in
process, on SQLite, the report writer's thread included (every thread is profiled), counting
only functions defined under app/ and models/. Not a timing: a map of the way, to read.

Run: .venv/bin/python -m bench.post_path [ARTIFACT]   (default: the served artifact)
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from fastapi.testclient import TestClient

from app.main import create_app
from app.settings import Settings
from models.artifact import DEFAULT_ARTIFACT

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "post-path-token-0001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CASE = {"id": "c1", "title": "t", "state": "Belarus", "target": "Ukraine", "patron": "Russia"}


def report(indicator: str) -> dict[str, str]:
    observed = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3)
    return {
        "indicator": indicator,
        "value": "present",
        "observed_on": observed.isoformat(),
        "source": "bench",
        "grade": "C",
    }


def traced(artifact: Path) -> dict[str, set[str]]:
    """Per file (relative to the repository), the functions the second POST called."""
    seen: dict[str, set[str]] = {}

    def profile(frame: FrameType, event: str, _: Any) -> None:
        path = Path(frame.f_code.co_filename)
        if (
            event == "call"
            and path.is_relative_to(ROOT)
            and path.parts[len(ROOT.parts)]
            in (
                "app",
                "models",
            )
        ):
            seen.setdefault(str(path.relative_to(ROOT)), set()).add(frame.f_code.co_qualname)

    with tempfile.TemporaryDirectory() as scratch:
        settings = Settings.model_validate(
            {
                "artifact_path": artifact,
                "database_url": f"sqlite:///{scratch}/post-path.db",
                "write_token": TOKEN,
            }
        )
        with TestClient(create_app(settings)) as client:
            assert client.post("/v1/cases", json=CASE, headers=AUTH).status_code == 201
            client.post("/v1/cases/c1/reports", json=report("covert_mobilization"), headers=AUTH)
            threading.setprofile_all_threads(profile)
            answer = client.post(
                "/v1/cases/c1/reports", json=report("troop_shortfall"), headers=AUTH
            )
            threading.setprofile_all_threads(None)
            assert answer.status_code == 201, answer.text
    return seen


def main() -> None:
    artifact = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ARTIFACT
    seen = traced(artifact)
    print(f"{len(seen)} files, {sum(map(len, seen.values()))} functions")
    for path in sorted(seen):
        print(f"  {path}: {', '.join(sorted(seen[path]))}")


if __name__ == "__main__":
    main()
