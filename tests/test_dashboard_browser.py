"""Every dashboard page in a real headless Chromium against a running `oauthwatch dashboard`.

The dashboard runs as the CLI starts it (a subprocess on a free loopback port) over a seeded
store. For each page the test waits for the page's title and charts (plotly's ``.main-svg``),
then checks there is no Streamlit exception box and no SEVERE browser console entry (a map that
tried to fetch its geometry from the internet would log one), and saves a screenshot into
``$OAUTHWATCH_SCREENSHOTS`` (default: a temporary folder).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import require

pytestmark = pytest.mark.browser

# page url path -> (title, needs a chart)
PAGES = {
    "": ("Overview", True),  # the default page lives at the root
    "overview?range=custom&start=2026-01-01&end=2026-01-02": ("Overview", False),  # and at its path
    "apps": ("Apps", False),
    "apps?app=Data+Loader": ("Data Loader", True),
    "failures": ("Failures", True),
    "origins": ("Origins", True),
    "alerts?alert=1": ("Alerts", False),
    "investigate?alert=1": ("Investigate", True),
    "tokens": ("Tokens", True),
    "collection": ("Collection", True),
    "digest": ("Digest", False),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory):
    from oauthwatch.store import open_store
    from tests.factories import seed_store

    tmp = tmp_path_factory.mktemp("dash")
    url = f"sqlite:///{tmp / 'store.db'}"
    engine = open_store(url)
    seed_store(engine, days=14)
    engine.dispose()
    (tmp / "oauthwatch.toml").write_text(f'[store]\nurl = "{url}"\n')
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHWATCH_")}
    oauthwatch = str(Path(sys.executable).with_name("oauthwatch"))
    proc = subprocess.Popen(
        [oauthwatch, "dashboard", "--config", str(tmp / "oauthwatch.toml"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so teardown can stop Streamlit too
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        out = proc.stdout.read().decode() if proc.stdout else ""
        pytest.fail(f"dashboard did not start: {out[-2000:]}")
    try:
        yield base
    finally:
        proc.terminate()  # the CLI forwards it to Streamlit
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    require(
        bool(chromium and chromedriver),
        "chromium and chromedriver are not installed (apt-get install chromium chromium-driver)",
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1800",
        f"--user-data-dir={tmp_path_factory.mktemp('chrome')}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(options=opts, service=Service(chromedriver))
    drv.set_page_load_timeout(60)
    yield drv
    drv.quit()


def _base_path_probe(message: str) -> bool:
    """Streamlit's own probe: opened at /<page>, its frontend first tries /<page>/_stcore/health and
    /<page>/_stcore/host-config to discover a base path, gets 404, then uses the root. Not our error."""
    return "/_stcore/" in message and "404" in message


def _wait(driver, condition, timeout: float = 45.0, what: str = "") -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, timeout, poll_frequency=0.3).until(condition, message=what)


@pytest.mark.parametrize("path", list(PAGES))
def test_page_loads_without_errors(dashboard_url: str, driver, path: str, tmp_path_factory) -> None:
    from selenium.webdriver.common.by import By

    title, needs_chart = PAGES[path]
    driver.get_log("browser")  # drop entries from earlier pages
    driver.get(f"{dashboard_url}/{path}")
    _wait(
        driver,
        lambda d: any(title in h.text for h in d.find_elements(By.CSS_SELECTOR, "h1")),
        what=f"title {title!r} on /{path}",
    )
    if needs_chart:
        _wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".main-svg"), what=f"a chart on /{path}")
    # Let the script finish its run (the running indicator disappears) and the charts draw.
    _wait(
        driver,
        lambda d: not d.find_elements(By.CSS_SELECTOR, '[data-testid="stStatusWidget"]'),
        what="the script run to finish",
    )
    time.sleep(0.7)
    folder = Path(os.environ.get("OAUTHWATCH_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    name = (path or "overview").replace("?", "_").replace("=", "-").replace("+", "_")
    driver.save_screenshot(str(folder / f"{name}.png"))
    exceptions = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not exceptions, exceptions[0].text
    severe = [
        e for e in driver.get_log("browser") if e["level"] == "SEVERE" and not _base_path_probe(e["message"])
    ]
    assert not severe, severe
    if path.startswith("origins"):
        # The map's geometry came from our static folder: land and country outlines are long paths
        # (without the topojson plotly draws only the bubbles).
        lengths = driver.execute_script(
            "return Array.from(document.querySelectorAll('.geo path')).map(p => (p.getAttribute('d') || '').length)"
        )
        assert max(lengths, default=0) > 10_000, f"the map drew no geometry: path lengths {lengths}"


def test_external_client_app_page_names_its_kind(dashboard_url: str, driver) -> None:
    """Tableau CRM is an External Client App in the seeded store: its page says so, in the browser."""
    from selenium.webdriver.common.by import By

    driver.get(f"{dashboard_url}/apps?app=Tableau+CRM")
    _wait(
        driver,
        lambda d: "External Client App" in d.find_element(By.TAG_NAME, "body").text,
        what="the app's kind on its page",
    )
    body = driver.find_element(By.TAG_NAME, "body").text
    assert "Kind: External Client App" in body
    assert not driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
