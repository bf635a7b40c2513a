"""What a forecast was made from, besides the model: the date, the reports (as one hash that
can be updated a report at a time), the outcome prior, and the scenario if one was run. The
service's ETags and history and the CLI's records all name a forecast's inputs by these."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

from models.evidence import ReportLike
from models.forecast import Prior


def report_digest(report: ReportLike) -> int:
    """sha256 of one report's content, as an integer."""
    content = [
        report.indicator,
        float(report.value),
        report.observed_on.isoformat(),
        report.grade,
        report.source,
    ]
    return int.from_bytes(hashlib.sha256(json.dumps(content).encode()).digest())


def combined_hash(start: str, added: Iterable[ReportLike], removed: Iterable[ReportLike]) -> str:
    """The reports hash of a set (given by its hash) with reports added and removed.

    A set's hash is the sum of its reports' digests modulo 2**256: it does not depend on the
    order of the reports and can be updated one report at a time. It identifies report sets for
    ETags and history; it is not a security boundary (sums of hashes can be made to collide)."""
    total = int(start, 16) + sum(map(report_digest, added)) - sum(map(report_digest, removed))
    return digests_hash([total])


def digests_hash(digests: Iterable[int]) -> str:
    """The reports hash of a set given by its reports' digests (`report_digest`)."""
    return f"{sum(digests) % 2**256:064x}"


EMPTY_HASH = f"{0:064x}"


def evidence_hash(as_of: dt.date, reports_hash: str, prior: Prior) -> str:
    """sha256 of what a forecast depends on besides the model: the reports, the date (reports
    age) and the outcome prior."""
    return hashlib.sha256(
        f"{as_of.isoformat()}:{reports_hash}:{prior_key(prior)}".encode()
    ).hexdigest()


def prior_key(prior: Prior) -> str:
    """A prior as text, for hashes: its kind, whose it is, and its fixed values if any."""
    fixed = "population" if prior.fixed is None else ",".join(map(repr, prior.fixed))
    return f"{prior.kind}:{prior.source}:{fixed}"


@dataclass(frozen=True)
class Provenance:
    """A forecast's inputs besides the model: its date, the hash of its evidence, how many
    reports it used (and how many stored ones it left out, not yet known then), and the
    scenario's hash when it ran one."""

    as_of: dt.date
    evidence_hash: str
    reports_used: int
    reports_left_out: int = 0
    scenario_sha256: str | None = None

    @classmethod
    def of_reports(
        cls,
        reports: Iterable[ReportLike],
        as_of: dt.date,
        prior: Prior,
        scenario_sha256: str | None = None,
    ) -> Provenance:
        """The provenance of a forecast from exactly these reports (a scenario's, say)."""
        listed = list(reports)
        digest = evidence_hash(as_of, combined_hash(EMPTY_HASH, listed, ()), prior)
        return cls(as_of, digest, len(listed), 0, scenario_sha256)
