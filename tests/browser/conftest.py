"""The dashboard in a real browser: Debian's headless Chromium (`.ci/system-packages`), driven by
Selenium, against uvicorn serving the app on 127.0.0.1 with the test artifact.

Screenshots (every layout test, and any failing test with its browser log) go to
ESC_TEST_ARTIFACTS if set, else to `browser-artifacts` in pytest's temporary directory; the
path is printed at the end of the run."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

from ..service import AUTH, BELARUS, serving
from .pages import save_screenshot

HERE = Path(__file__).parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")

_artifacts: list[Path] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test here drives a browser against a server process: not in `make test-fast`."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.system)


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """The browser and its driver, both from Debian."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing: run .ci/system-packages")
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def browser(chromium: tuple[Path, Path], server: str) -> Iterator[WebDriver]:
    """One headless Chromium per module. A driver path given to Service means Selenium
    Manager is never run, so nothing is downloaded. It closes before the server stops: an
    open page's event stream would hold up the server's shutdown."""
    binary, driver = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = str(binary)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root, as in CI
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-extensions",
        "--disable-sync",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(executable_path=str(driver)), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


@pytest.fixture(scope="module")
def server(artifact_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service on a fresh SQLite database, with the Belarus case and no reports."""
    database = tmp_path_factory.mktemp("browser") / "dashboard.db"
    with serving(artifact_path, f"sqlite:///{database}") as url:
        created = httpx.post(f"{url}/v1/cases", json=BELARUS, headers=AUTH, timeout=10)
        assert created.status_code == 201, created.text
        yield url


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go (never committed)."""
    configured = os.environ.get("ESC_TEST_ARTIFACTS")
    path = Path(configured) if configured else tmp_path_factory.getbasetemp() / "browser-artifacts"
    path.mkdir(parents=True, exist_ok=True)
    _artifacts.append(path)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, for `screenshot_on_failure`."""
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.fixture(autouse=True)
def screenshot_on_failure(
    request: pytest.FixtureRequest, browser: WebDriver, artifacts: Path
) -> Iterator[None]:
    """A failing test leaves the page as it was and the browser's console log."""
    yield
    call = request.node.stash.get(_REPORTS, {}).get("call")
    if call is not None and call.failed:
        name = request.node.name
        save_screenshot(browser, artifacts / f"failed-{name}.png")
        entries = browser.get_log("browser")  # type: ignore[no-untyped-call]  # selenium's own
        log = "\n".join(str(entry) for entry in entries)
        (artifacts / f"failed-{name}.log").write_text(log, encoding="utf-8")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in _artifacts:
        terminalreporter.write_line(f"dashboard screenshots: {path}")
