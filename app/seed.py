"""The article's case, loaded into an empty store so that a first start has something to show."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from app.store.tables import CaseRow, ReportRow
from models.catalog import Catalog
from models.contract import HORIZON_DAYS
from models.scenario import load_scenario

ARTICLE_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "baseline-2022-07-19.yaml"
ARTICLE_CASE = {
    "id": "belarus-ukraine-2022",
    "title": "Will Belarus enter Russia's war in Ukraine?",
    "state": "Belarus",
    "target": "Ukraine",
    "patron": "Russia",
    "kind": "join_war",
    "horizon_days": HORIZON_DAYS,
    # The case is about the war Russia began on 24 February 2022; it is seen as the article
    # stood, on 19 July 2022 (historical).
    "opened_on": dt.date(2022, 2, 24),
}


def seed_article_case(session: Session, catalog: Catalog) -> bool:
    """Add the article's case and its reports unless the case exists; True if it was added.

    The case is historical, its clock at the article's date. The reports are press reports
    the article gathered: each counts as known at midday on the day it was observed, so the
    case's timeline shows the evidence building up to the article."""
    if session.get(CaseRow, ARTICLE_CASE["id"]) is not None:
        return False
    scenario = load_scenario(ARTICLE_SCENARIO, catalog).scenario
    published = dt.datetime.combine(scenario.as_of, dt.time(12), dt.UTC)
    case = CaseRow(**ARTICLE_CASE, clock=scenario.as_of, created_at=published)
    session.add(case)
    for entry in scenario.reports:
        known_at = dt.datetime.combine(entry.observed_on, dt.time(12), dt.UTC)
        session.add(
            ReportRow(
                case_id=case.id, known_at=known_at, received_at=published, **entry.model_dump()
            )
        )
    session.commit()
    return True
