"""The alert rules panel in headless Chromium: each rule in words, its state, its last firing
and how its delivery went, kept current as the forecast changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import httpx
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from app.forecasting import today

from ..receiver import Receiver, receiving
from ..service import AUTH, BELARUS, report
from .pages import open_page, wait

ALERTS = f"/v1/cases/{BELARUS['id']}/alerts"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as listening:
        yield listening


ROWS = """return [...document.querySelectorAll('#alerts-rows tr[data-rule-id]')]
  .map((row) => [row.dataset.ruleId, [...row.cells].map((cell) => cell.innerText)]);"""


def rows(browser: WebDriver) -> dict[str, list[str]]:
    """The panel's rows by rule id: each cell's text, read at once (the panel is redrawn
    whenever the forecast changes)."""
    return dict(browser.execute_script(ROWS))


def cell(browser: WebDriver, rule: dict[str, object], column: int) -> str:
    """One cell of a rule's row, "" while the row is not drawn (a wait condition)."""
    row = rows(browser).get(str(rule["id"]))
    return row[column] if row else ""


def test_the_panel_shows_each_rule_its_state_and_its_last_delivery(
    browser: WebDriver, server: str, receiver: Receiver
) -> None:
    http = httpx.Client(base_url=server, headers=AUTH, timeout=10)
    now = http.get(f"/v1/cases/{BELARUS['id']}/forecast").json()["probabilities"]
    low = next(p["mean"] for p in now if p["outcome"] == "direct_invasion")
    rule = {"url": receiver.url, "outcome": "direct_invasion", "threshold": low + 0.001}
    fires = http.post(ALERTS, json=rule | {"band": 0.001}).json()
    waits = http.post(ALERTS, json=rule | {"threshold": 0.99, "band": 0.1}).json()
    stopped = http.post(ALERTS, json=rule | {"direction": "down", "threshold": 0.01}).json()
    assert http.delete(f"{ALERTS}/{stopped['id']}").status_code == 200
    open_page(browser, f"{server}/#{BELARUS['id']}")
    wait(browser).until(lambda b: len(rows(b)) == 3)
    assert rows(browser)[str(waits["id"])][3] == "armed"
    assert rows(browser)[str(stopped["id"])][3] == "stopped by admin"

    crossing = report(
        observed_on=(today() - dt.timedelta(days=1)).isoformat(),
        source="the report that crosses the line",
        grade="A",
    )
    assert http.post(f"/v1/cases/{BELARUS['id']}/reports", json=crossing).status_code == 201
    receiver.wait_for(1)
    # The page learns of the new forecast by itself, and reads the rules again with it; the
    # delivery is settled a moment after it arrives, so a reload may be needed to see it.
    wait(browser).until(lambda b: cell(b, fires, 3) == "fired: waits to re-arm")
    fired = rows(browser)[str(fires["id"])]
    threshold = f"{round(rule['threshold'] * 1000) / 10:g}%"
    assert (
        fired[0].startswith(f"Direct invasion rises to {threshold}") and "re-arms below" in fired[0]
    )
    assert fired[1] == "a report added or retracted"
    assert fired[2] == receiver.url.removesuffix("/hook")
    assert "UTC" in fired[4]
    open_page(browser, f"{server}/#{BELARUS['id']}")
    wait(browser).until(lambda b: cell(b, fires, 5) == "delivered (HTTP 200)")
    assert rows(browser)[str(waits["id"])][4:] == ["never", "never fired"]
    assert "(2 active)" in browser.find_element(By.ID, "alerts-count").text
