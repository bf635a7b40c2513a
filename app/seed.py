"""The article's case, loaded into an empty store so that a first start has something to show."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy.orm import Session

from app.store.tables import CaseRow, ReportRow
from models.catalog import Catalog
from models.scenario import load_scenario

ARTICLE_SCENARIO = Path(__file__).resolve().parents[1] / "scenarios" / "baseline-2022-07-19.yaml"
ARTICLE_CASE = {
    "id": "belarus-ukraine-2022",
    "title": "Will Belarus enter Russia's war in Ukraine?",
    "state": "Belarus",
    "target": "Ukraine",
    "patron": "Russia",
    "kind": "join_war",
    "horizon_days": 90,
}


def seed_article_case(session: Session, catalog: Catalog) -> bool:
    """Add the article's case and its reports unless the case exists; True if it was added.

    The reports count as received on the article's date, so that `?as_of=2022-07-19` replays
    the forecast as the article stood."""
    if session.get(CaseRow, ARTICLE_CASE["id"]) is not None:
        return False
    scenario = load_scenario(ARTICLE_SCENARIO, catalog).scenario
    published = dt.datetime.combine(scenario.as_of, dt.time(12), dt.UTC)
    case = CaseRow(**ARTICLE_CASE, created_at=published)
    session.add(case)
    for entry in scenario.reports:
        session.add(ReportRow(case_id=case.id, received_at=published, **entry.model_dump()))
    session.commit()
    return True
