"""The dashboard in a real browser: Debian's headless Chromium (installed if missing), driven by
Selenium, against uvicorn serving the app on 127.0.0.1 with the test artifact.

Screenshots (every layout test, and any failing test with its browser log) go to
ESC_TEST_ARTIFACTS if set, else to `browser-artifacts` in pytest's temporary directory; the
path is printed at the end of the run."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver

from ..app.conftest import BELARUS, TOKEN
from ..app.test_end_to_end import serving

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AUTH = {"Authorization": f"Bearer {TOKEN}"}

_artifacts: list[Path] = []


def _install_chromium() -> None:
    """Debian's chromium and its driver (the test setup may do this; CI runs as root)."""
    if os.geteuid() != 0:
        pytest.skip("Chromium is not installed and only root can install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        packages = ["chromium", "chromium-driver"]
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"Chromium could not be installed: {exc}")
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip(f"chromium installed but {CHROMIUM} or {CHROMEDRIVER} is missing")


@pytest.fixture(scope="session")
def chromium() -> tuple[Path, Path]:
    """The browser and its driver, both from Debian."""
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        _install_chromium()
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
