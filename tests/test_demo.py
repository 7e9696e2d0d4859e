"""``oauthwatch demo`` (what ``make demo`` runs) from an empty folder: data and an alert on the
dashboard within two minutes, seen in a real headless Chromium, then Ctrl-C stops every process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from oauthwatch.store import open_store
from oauthwatch.store import schema as s
from tests.conftest import require
from tests.smtp_helpers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.browser]
BUDGET_SECONDS = 120


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie is not running anything
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def _driver(tmp_path: Path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    require(bool(chromium and chromedriver), "chromium and chromedriver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--window-size=1400,1600", f"--user-data-dir={tmp_path / 'chrome'}"):  # fmt: skip
        opts.add_argument(flag)
    drv = webdriver.Chrome(options=opts, service=Service(chromedriver))
    drv.set_page_load_timeout(60)
    return drv


@pytest.mark.timeout(300)
def test_demo_reaches_a_dashboard_with_data_and_an_alert_then_ctrl_c_stops_all(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    folder = tmp_path / "demo"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAUTHWATCH_")}
    out = (tmp_path / "demo.out").open("wb")
    t0 = time.monotonic()
    demo = subprocess.Popen(
        [sys.executable, "-m", "oauthwatch", "demo", "--dir", str(folder), "--port", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # like a terminal: Ctrl-C goes to this group only
        env=env,
        cwd=tmp_path,
    )
    driver = None
    pids: dict[str, int] = {}
    try:
        store = folder / "org" / "oauthwatch.db"
        deadline = t0 + BUDGET_SECONDS
        logins = alerts = 0
        while time.monotonic() < deadline:
            assert demo.poll() is None, (tmp_path / "demo.out").read_text()
            if store.exists():
                with contextlib.suppress(Exception):
                    eng = open_store(f"sqlite:///{store}", migrate=False)
                    with eng.connect() as conn:
                        logins = conn.execute(select(func.count()).select_from(s.logins)).scalar_one()
                        alerts = conn.execute(select(func.count()).select_from(s.alerts)).scalar_one()
                    eng.dispose()
            if logins and alerts:
                break
            time.sleep(1)
        assert logins > 0, (tmp_path / "demo.out").read_text()
        assert alerts > 0, (tmp_path / "demo.out").read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=5) as r:
            assert r.status == 200

        eng = open_store(f"sqlite:///{store}", migrate=False)
        with eng.connect() as conn:
            first = conn.execute(select(s.alerts.c.id, s.alerts.c.title).order_by(s.alerts.c.id)).first()
        eng.dispose()
        driver = _driver(tmp_path)
        wait = WebDriverWait(driver, max(10, deadline - time.monotonic()), poll_frequency=0.5)
        driver.get(f"http://127.0.0.1:{port}/")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".main-svg"), message="a chart on the Overview")
        driver.get(f"http://127.0.0.1:{port}/alerts?alert={first.id}")
        wait.until(
            lambda d: first.title in d.find_element(By.TAG_NAME, "body").text,
            message=f"alert {first.title!r} on the Alerts page",
        )
        elapsed = time.monotonic() - t0
        assert elapsed < BUDGET_SECONDS, f"dashboard with data and an alert after {elapsed:.0f} s"
        print(f"demo: dashboard with data and alert {first.title!r} after {elapsed:.0f} s")
        printed = (tmp_path / "demo.out").read_text()
        assert f"open http://localhost:{port}" in printed
        assert "Ctrl-C stops everything" in printed
        pids = json.loads((folder / "pids.json").read_text())
        assert set(pids) == {"org", "service", "dashboard"}

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C
        assert demo.wait(60) == 0
        time.sleep(0.5)
        assert not [n for n, pid in pids.items() if _alive(pid)], "every child stopped"
        assert "stopped." in (tmp_path / "demo.out").read_text()
    finally:
        if driver is not None:
            driver.quit()
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        out.close()
