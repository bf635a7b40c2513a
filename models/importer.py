"""Historical reporting from a file, for `forecast import`: CSV or YAML rows read and checked one
by one, every fault reported with its line, before anything is posted.

A row is a report as the API takes it (`models.scenario.PostedReport`): indicator, value,
observed_on, source, grade, and optionally note, known_at and idempotency_key. A row without a
key gets one from the file's content and its line, so importing the same file again stores
nothing twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError

from models.client import Service, detail, location
from models.contract import MAX_REPORTS
from models.errors import InputError
from models.scenario import PostedReport
from models.timeline import outside_period
from models.yamlio import FILE_LIMITS, did_you_mean, explain, parse_yaml

COLUMNS = tuple(PostedReport.model_fields)
MAX_ROWS = 100 * MAX_REPORTS
"""Most rows one file may hold (posted in batches of MAX_REPORTS)."""


class ImportFileError(InputError):
    """An import file cannot be posted: every fault found, one line each."""


@dataclass(frozen=True)
class ImportRow:
    """One report of an import file and the line it starts on."""

    line: int
    report: PostedReport


@dataclass(frozen=True)
class CaseFacts:
    """What the rows are checked against: the service's indicators, the case's period, today."""

    indicators: Collection[str]
    opened_on: dt.date
    today: dt.date


def read_import(path: Path, facts: CaseFacts) -> list[ImportRow]:
    """The file's reports, each checked; ImportFileError listing every fault otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(str(path), f"cannot read file ({exc})") from None
    raw = list(_csv_rows(text, path) if path.suffix.lower() == ".csv" else _yaml_rows(text, path))
    if not raw:
        raise ImportFileError(str(path), "no reports in the file")
    if len(raw) > MAX_ROWS:
        raise ImportFileError(str(path), f"{len(raw)} reports; at most {MAX_ROWS} per file")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    rows, faults = [], []
    for line, fields in raw:
        try:
            report = PostedReport.model_validate(fields)
        except ValidationError as exc:
            faults += [_fault(line, error) for error in exc.errors()]
            continue
        faults += [f"line {line}: {fault}" for fault in _faults(report, facts)]
        key = report.idempotency_key or f"import-{digest}-{line}"
        rows.append(ImportRow(line, report.model_copy(update={"idempotency_key": key})))
    if faults:
        raise ImportFileError(str(path), "\n".join(["nothing was posted:", *faults]))
    return rows


def _fault(line: int, error: Any) -> str:
    where = ".".join(map(str, error["loc"])) or "row"
    return f"line {line}: {where}: {explain(error, COLUMNS)}"


def _faults(report: PostedReport, facts: CaseFacts) -> Iterator[str]:
    """What the service would refuse of a well-formed report, said before anything is sent."""
    if report.indicator not in facts.indicators:
        hint = did_you_mean(report.indicator, facts.indicators)
        yield f"indicator: unknown indicator {report.indicator!r}{hint}"
    if report.observed_on > facts.today:
        yield f"observed_on: {report.observed_on} is in the future"
    if (reason := outside_period(report.observed_on, facts.opened_on)) is not None:
        yield f"observed_on: {reason}"


def _csv_rows(text: str, path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row with the line it starts on; empty cells left out (their defaults apply)."""
    reader = csv.DictReader(io.StringIO(text))
    unknown = [name for name in reader.fieldnames or () if name not in COLUMNS]
    if unknown:
        hints = "; ".join(f"{name!r}{did_you_mean(name, COLUMNS)}" for name in unknown)
        raise ImportFileError(f"{path}:1", f"unknown columns {hints}; columns are {COLUMNS}")
    line = 2  # the first row after the header
    for row in reader:
        if None in row:  # more cells than the header names
            raise ImportFileError(f"{path}:{line}", "more cells than the header has columns")
        yield line, {name: value for name, value in row.items() if value not in (None, "")}
        line = reader.line_num + 1


def _yaml_rows(text: str, path: Path) -> Iterator[tuple[int, Any]]:
    """A list of reports, or a mapping with one key `reports` holding it."""
    doc = parse_yaml(text, str(path), ImportFileError, FILE_LIMITS)
    data = doc.data
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and set(data) == {"reports"}:
        data, prefix = data["reports"], ("reports",)
    if not isinstance(data, list):
        raise ImportFileError(str(path), "expected a list of reports (or `reports:` holding one)")
    for index, fields in enumerate(data):
        yield doc.line_of((*prefix, index)) or 1, fields


def case_facts(service: Service, case_id: str) -> CaseFacts:
    """What the rows are checked against, from the service."""
    case = service.read(f"/v1/cases/{case_id}")
    indicators = [indicator["id"] for indicator in service.read("/v1/indicators")]
    today = dt.datetime.now(dt.UTC).date()
    return CaseFacts(indicators, dt.date.fromisoformat(case["opened_on"]), today)


def post_rows(
    service: Service, case_id: str, rows: Sequence[ImportRow], done: Callable[[int], None]
) -> dict[str, Any]:
    """Post `rows` in batches, calling `done` with the count posted after each; the case's
    forecast after the last."""
    forecast: dict[str, Any] = {}
    for start in range(0, len(rows), MAX_REPORTS):
        batch = rows[start : start + MAX_REPORTS]
        body = [row.report.model_dump(mode="json", exclude_none=True) for row in batch]
        answer = service.send("POST", f"/v1/cases/{case_id}/reports", body)
        if answer.status_code != 201:
            raise ImportFileError(
                f"line {_line_of(answer, batch)}",
                f"the service refused it ({detail(answer)}); the {start} reports before "
                "its batch are stored: fix the file and import it again (stored reports "
                "are not stored twice)",
            )
        forecast = answer.json()["forecast"]
        done(start + len(batch))
    return forecast


def _line_of(answer: httpx.Response, batch: Sequence[ImportRow]) -> str:
    """The file line of the report a refusal names (`body[3]...`), else the batch's lines."""
    try:
        where = location(answer.json()["detail"][0]["loc"])
        index = int(where.split("[", 1)[1].split("]", 1)[0]) if "[" in where else None
    except (ValueError, KeyError, TypeError, IndexError):
        index = None
    if index is not None and 0 <= index < len(batch):
        return str(batch[index].line)
    return f"{batch[0].line}-{batch[-1].line}"
