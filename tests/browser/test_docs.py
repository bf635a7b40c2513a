"""The dashboard and the API's documentation pages in a real browser: rendered from the
repository's own assets (nothing from another origin), within their content security policy
(no console errors)."""

from __future__ import annotations

import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        ("/", '[data-testid="prob-direct_invasion"] .prob__value'),
        ("/docs", ".opblock-summary-path"),
        ("/redoc", "[data-section-id^='tag/cases']"),
    ],
)
def test_pages_render_from_local_assets_within_their_policy(
    browser: WebDriver, server: str, page: str, rendered: str
) -> None:
    browser.get_log("browser")  # type: ignore[no-untyped-call]  # drop earlier pages' entries
    browser.get(server + page)
    WebDriverWait(browser, 30).until(lambda b: b.find_elements(By.CSS_SELECTOR, rendered))
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map((entry) => entry.name)"
    )
    assert loaded and all(url.startswith(server) for url in loaded), loaded
    errors = [
        entry
        for entry in browser.get_log("browser")  # type: ignore[no-untyped-call]
        if entry["level"] == "SEVERE"
    ]
    assert not errors, errors
