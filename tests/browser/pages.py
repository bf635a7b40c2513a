"""Reading the dashboard in the browser: loading a page, waiting for it, what a card shows."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.wait import WebDriverWait

LOAD_SECONDS = 10  # a first load: the page, its scripts, the first forecast


def percent(p: float) -> str:
    """A probability as the page shows it (format.js `percent`)."""
    whole = math.floor(p * 100 + 0.5)  # JavaScript's Math.round
    if whole == 0 and p > 0:
        return "<1%"
    if whole == 100 and p < 1:
        return ">99%"
    return f"{whole}%"


def open_page(browser: WebDriver, url: str) -> None:
    """A fresh load (a change of the hash alone would not reload the page)."""
    browser.get("about:blank")
    browser.get(url)


def wait(browser: WebDriver, seconds: float = LOAD_SECONDS) -> WebDriverWait[WebDriver]:
    return WebDriverWait(browser, seconds, poll_frequency=0.05)


def shown(browser: WebDriver, outcome: str) -> tuple[str, float | None]:
    """An outcome's card: the number shown and the exact mean it was drawn from."""
    card = browser.find_element(By.CSS_SELECTOR, f'[data-testid="prob-{outcome}"]')
    mean = card.get_attribute("data-mean")
    return card.find_element(By.CLASS_NAME, "prob__value").text, float(mean) if mean else None


def showing(forecast: dict[str, Any]) -> Any:
    """A wait condition: every card shows this forecast."""

    def check(browser: WebDriver) -> bool:
        return all(
            shown(browser, p["outcome"]) == (percent(p["mean"]), p["mean"])
            for p in forecast["probabilities"]
        )

    return check


def count(browser: WebDriver, testid: str) -> int:
    return len(browser.find_elements(By.CSS_SELECTOR, f'[data-testid="{testid}"]'))


def save_screenshot(browser: WebDriver, path: Path) -> None:
    """The whole page, not only the viewport. Chromium lays the page out again at its full
    height, with no room kept for a scroll bar: hence the window's width, not the page's."""
    size = browser.execute_script(
        "const page = document.documentElement;"
        "return [Math.max(page.scrollWidth, window.innerWidth), page.scrollHeight]"
    )
    shot = browser.execute_cdp_cmd(
        "Page.captureScreenshot",
        {
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1},
        },
    )
    path.write_bytes(base64.b64decode(shot["data"]))
