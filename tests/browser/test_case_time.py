"""A historical case in headless Chromium: it opens at its clock, the date control (by
keyboard) replays another date, and the timeline and the "since" summary follow it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from app.seed import ARTICLE_CASE
from app.serve import ensure_database
from app.settings import Settings
from models.catalog import load_catalog

from ..service import serving
from .pages import count, open_page, showing, wait

CASE = f"/v1/cases/{ARTICLE_CASE['id']}"


@pytest.fixture(scope="module")
def server(artifact_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service as `make serve` starts it on an empty store: the article's case seeded."""
    database = f"sqlite:///{tmp_path_factory.mktemp('article') / 'article.db'}"
    ensure_database(Settings(database_url=database), load_catalog())
    with serving(artifact_path, database) as url:
        yield url


@pytest.fixture(scope="module")
def article(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, timeout=10) as client:
        yield client


def text(browser: WebDriver, testid: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f'[data-testid="{testid}"]').text)


def forecast_at(http: httpx.Client, day: str | None = None) -> dict[str, Any]:
    params = {} if day is None else {"as_of": day}
    return dict(http.get(f"{CASE}/forecast", params=params).json())


def test_a_historical_case_opens_at_its_clock_and_moves_with_the_date(
    browser: WebDriver, server: str, article: httpx.Client
) -> None:
    open_page(browser, f"{server}/#{ARTICLE_CASE['id']}")
    at_clock = forecast_at(article)
    assert at_clock["as_of"] == "2022-07-19" and at_clock["reports_used"] == 18
    wait(browser).until(showing(at_clock))
    assert "19 Jul 2022" in text(browser, "as-of") and "historical" in text(browser, "as-of")
    points = len(article.get(f"{CASE}/forecast/timeline").json()["points"])
    wait(browser).until(lambda b: count(b, "history-point") == points)
    wait(browser).until(lambda b: text(b, "since").startswith("Since 19 Jun 2022: "))
    since_at_clock = text(browser, "since")
    assert " pp " in since_at_clock and "mostly" in since_at_clock

    # By keyboard: Tab from the case picker reaches the date control, which takes a typed
    # date (in Chromium's en-US order).
    browser.execute_script("document.getElementById('case-select').focus()")
    browser.switch_to.active_element.send_keys(Keys.TAB)
    control = browser.switch_to.active_element
    assert control.get_attribute("data-testid") == "as-of-input"
    control.send_keys("07012022")
    wait(browser).until(lambda b: "as_of=2022-07-01" in b.current_url)
    earlier = forecast_at(article, "2022-07-01")
    assert earlier["reports_left_out"] > 0
    wait(browser).until(showing(earlier))
    assert "1 Jul 2022" in text(browser, "as-of") and "left out" in text(browser, "as-of")
    days = (dt.date(2022, 7, 1) - dt.date(2022, 2, 24)).days + 1
    wait(browser).until(lambda b: count(b, "history-point") == days)
    wait(browser).until(lambda b: text(b, "since").startswith("Since 1 Jun 2022: "))
    assert text(browser, "since") != since_at_clock

    # The address carries the view: opened afresh, the page shows the same date.
    open_page(browser, browser.current_url)
    wait(browser).until(showing(earlier))
    browser.find_element(By.CSS_SELECTOR, '[data-testid="as-of-reset"]').click()
    wait(browser).until(showing(at_clock))
    assert "as_of=" not in browser.current_url
