"""The commands that talk to a live service: `forecast import` (historical reporting from CSV or
YAML, posted in batches, every bad row reported by its line with nothing stored) and `forecast
keys`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from models.cli import app

from ..service import BELARUS, TOKEN, every_item, serving

pytestmark = pytest.mark.system  # uvicorn in processes of its own

AUTH = {"Authorization": f"Bearer {TOKEN}"}
HEADER = "indicator,value,observed_on,known_at,source,grade,note\n"
GOOD = (
    "covert_mobilization,present,2022-07-01,2022-07-02T08:00:00Z,Ukrainian intelligence,C,\n"
    'troop_shortfall,absent,2022-07-03,2022-07-05,"Analysts, via media",B,"a note, quoted"\n'
    "public_opposition,0.7,2022-07-04,,Polling,B,\n"
)
runner = CliRunner()


@pytest.fixture(scope="module")
def service(artifact_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("import") / "import.db"
    with serving(artifact_path, f"sqlite:///{database}") as url:
        yield url


def new_case(url: str, case_id: str) -> str:
    body = BELARUS | {"id": case_id, "opened_on": "2022-02-24"}
    assert httpx.post(f"{url}/v1/cases", json=body, headers=AUTH).status_code == 201
    return case_id


def stored(url: str, case_id: str) -> list[dict[str, object]]:
    return every_item(f"{url}/v1/cases/{case_id}/reports")


def run(url: str, file: Path, case_id: str, *options: str) -> tuple[int, str, str]:
    arguments = ["import", str(file), "--case", case_id, "--url", url, "--token", TOKEN]
    result = runner.invoke(app, [*arguments, "--quiet", *options])
    return result.exit_code, result.stdout, result.stderr


def test_a_csv_file_is_posted_once_however_often_it_is_imported(
    service: str, tmp_path: Path
) -> None:
    case_id = new_case(service, "import-csv")
    file = tmp_path / "reporting.csv"
    file.write_text(HEADER + GOOD)
    code, out, err = run(service, file, case_id, "--dry-run")
    assert code == 0, err
    assert "3 reports" in out and "nothing was posted" in out and stored(service, case_id) == []
    code, out, err = run(service, file, case_id)
    assert code == 0, err
    assert "posted 3 reports" in out
    reports = stored(service, case_id)
    assert [r["known_at"] for r in reports][:2] == ["2022-07-02T08:00:00Z", "2022-07-05T00:00:00Z"]
    assert reports[1]["source"] == "Analysts, via media" and reports[1]["note"] == "a note, quoted"
    assert reports[2]["known_at"] == reports[2]["received_at"]  # none given: known when posted
    assert run(service, file, case_id)[0] == 0
    assert len(stored(service, case_id)) == 3


def test_a_yaml_file_is_posted_in_batches(service: str, tmp_path: Path) -> None:
    case_id = new_case(service, "import-yaml")
    lines = ["reports:"]
    for day in range(1, 29):
        for indicator in ("covert_mobilization", "rhetoric_shift") * 10:
            lines.append(
                f"  - {{indicator: {indicator}, value: present, observed_on: 2022-07-{day:02d},"
                f" known_at: '2022-07-{day:02d}T12:00:00Z', source: feed, grade: E}}"
            )
    file = tmp_path / "reporting.yaml"
    file.write_text("\n".join(lines) + "\n")
    code, out, err = run(service, file, case_id)
    assert code == 0, err
    assert len(stored(service, case_id)) == 560  # two batches: 500 and 60


def test_bad_rows_are_reported_by_line_and_nothing_is_posted(service: str, tmp_path: Path) -> None:
    case_id = new_case(service, "import-bad")
    file = tmp_path / "bad.csv"
    file.write_text(
        HEADER
        + GOOD
        + "covert_mobilisation,present,2022-07-01,,x,C,\n"  # line 5
        + "troop_shortfall,present,2022-02-01,,x,C,\n"  # line 6: before the case's period
        + "troop_shortfall,present,2022-07-10,2022-07-09,x,Q,\n"  # line 7: two faults
    )
    code, _, err = run(service, file, case_id)
    assert code == 2
    assert "nothing was posted" in err
    assert "line 5: indicator: unknown indicator 'covert_mobilisation'" in err
    assert "did you mean 'covert_mobilization'" in err
    assert "line 6: observed_on: 2022-02-01 is before the case's period" in err
    assert "line 7: grade" in err and "line 7: known_at" in err
    assert stored(service, case_id) == []


def test_an_unknown_column_or_case_is_said_plainly(service: str, tmp_path: Path) -> None:
    file = tmp_path / "columns.csv"
    file.write_text("indicator,value,observed,source,grade\n")
    code, _, err = run(service, file, new_case(service, "import-columns"))
    assert code == 2 and "unknown columns 'observed' (did you mean 'observed_on'?)" in err
    file.write_text(HEADER + GOOD)
    code, _, err = run(service, file, "no-such-case")
    assert code == 2 and "404" in err and "no case 'no-such-case'" in err


def test_keys_are_made_listed_and_revoked_from_the_command_line(service: str) -> None:
    where = ["--url", service, "--token", TOKEN]
    made = runner.invoke(app, ["keys", "create", "carol", "--role", "analyst", *where])
    assert made.exit_code == 0, made.stderr
    found = re.search(r"carol \(analyst\): (esc_\S+)", made.stdout)
    assert found is not None and "Shown once" in made.stdout
    secret = found.group(1)
    case = BELARUS | {"id": "keys-cli"}
    carol = {"Authorization": f"Bearer {secret}"}
    assert httpx.post(f"{service}/v1/cases", json=case, headers=carol).status_code == 201
    listed = runner.invoke(app, ["keys", "list", *where])
    assert listed.exit_code == 0 and "carol" in listed.stdout and secret not in listed.stdout
    refused = runner.invoke(
        app, ["keys", "create", "dave", "--role", "admin", "--url", service, "--token", secret]
    )
    assert refused.exit_code == 2 and "403" in refused.stderr
    assert runner.invoke(app, ["keys", "revoke", "carol", *where]).exit_code == 0
    again = httpx.post(f"{service}/v1/cases", json=case | {"id": "keys-cli-2"}, headers=carol)
    assert again.status_code == 401
