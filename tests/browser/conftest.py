"""Headless Chromium (Debian's chromium + chromedriver) against our real server, for page tests.

The browser gets a fresh profile, the flags docs/facts.md lists for Debian, and page-load strategy
"none" (a page holding streams never finishes loading: tests wait for elements themselves).
A missing browser fails the run in CI and skips elsewhere (tests.conftest.require).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import require
from tests.support.processes import ROOT, descendants, web_server

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = ROOT / "var" / "artifacts"


@pytest.fixture(scope="session")
def static_root(tmp_path_factory) -> Path:
    """The site's static files collected once, as production serves them (whitenoise)."""
    root = tmp_path_factory.mktemp("static")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "nvr.test_settings",
        "NVR_ALLOW_DEV_SECRET": "1",
        "STATIC_ROOT": str(root),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    return root


@pytest.fixture
def site(redis_url, transactional_db, static_root):
    """uvicorn serving nvr (pages, static files, streams, WebSockets) on the test database."""
    server = web_server(redis_url, STATIC_ROOT=str(static_root))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    require(
        os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
        f"Chromium for the browser tests ({CHROMIUM}, {CHROMEDRIVER}; .ci/run installs them)",
    )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:  # pragma: no cover - in requirements-dev.txt
        require(False, "selenium is not installed (pip install -r requirements-dev.txt)")
    profile = tempfile.mkdtemp(prefix="nvr-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.page_load_strategy = "none"
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages: CSP violations
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def artifact(name: str) -> Path:
    """A path under var/artifacts/ (kept by CI); printed so the log says where it is."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def browser_pids(driver) -> list[int]:
    """Every process of the browser: chromedriver's descendants (browser, renderers, GPU, utility)."""
    return descendants(driver.service.process.pid)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def wait_until(predicate, timeout: float, interval: float = 0.2, message: str = ""):
    """Poll `predicate` until it returns something truthy; fail with `message` after `timeout`."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{message or 'condition'} not met within {timeout}s (last: {value!r})")
