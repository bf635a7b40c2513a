"""The track-record page in headless Chromium: reached from the dashboard, it shows the
scores beside the base rate's, a reliability diagram with a point per calibration bin, the
discrimination and each resolved case, as the API computes them, with no console error."""

from __future__ import annotations

import datetime as dt

import httpx
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from app.forecasting import today

from ..service import AUTH, BELARUS
from .pages import count, open_page, wait

RESOLVED = (today() - dt.timedelta(days=5)).isoformat()


def cells(browser: WebDriver, body: str) -> list[list[str]]:
    script = f"""return [...document.querySelectorAll('#{body} tr')]
      .map((row) => [...row.cells].map((cell) => cell.innerText));"""
    return list(browser.execute_script(script))


def test_the_track_record_page_shows_what_the_api_computes(browser: WebDriver, server: str) -> None:
    http = httpx.Client(base_url=server, headers=AUTH, timeout=30)
    second = BELARUS | {"id": "second-case", "title": "A second case"}
    assert http.post("/v1/cases", json=second).status_code == 201
    for case, outcome in ((BELARUS["id"], "direct_invasion"), ("second-case", "no_entry")):
        body = {"outcome": outcome, "resolved_on": RESOLVED, "source": "a test's own record"}
        assert http.post(f"/v1/cases/{case}/resolution", json=body).status_code == 201
    record = http.get("/v1/track-record").json()

    open_page(browser, f"{server}/#{BELARUS['id']}")
    browser.get_log("browser")  # type: ignore[no-untyped-call]  # drop the dashboard's entries
    wait(browser).until(lambda b: "frozen at its resolution" in b.find_element(By.ID, "as-of").text)
    browser.find_element(By.CSS_SELECTOR, '[data-testid="track-record-link"]').click()
    wait(browser).until(lambda b: "2 resolved cases" in b.find_element(By.ID, "summary").text)

    scores = cells(browser, "scores-rows")
    brier = record["time_averaged"]["brier"]
    assert [row[0] for row in scores] == [
        "Brier (0–2)",
        "Log score (nats)",
        "Ranked probability (0–1)",
    ]
    assert scores[0][1].startswith(f"{brier['forecast']['mean']:.3f} (")
    assert scores[0][4] in {
        "better than the base rate",
        "worse than the base rate",
        "no clear difference",
    }
    assert count(browser, "reliability-point") == len(record["calibration"]) > 0
    assert len(cells(browser, "calibration-rows")) == len(record["calibration"])
    auc = {row[0]: row[1] for row in cells(browser, "auc-rows")}
    assert auc["False flag"].startswith("not defined")
    assert auc["Direct invasion"].endswith(")")
    cases = cells(browser, "cases-rows")
    assert [row[0] for row in cases] == [BELARUS["id"], "second-case"]
    assert [row[3] for row in cases] == ["90", "90"]  # the horizon's days before the outcome
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[no-untyped-call]
    assert errors == []
