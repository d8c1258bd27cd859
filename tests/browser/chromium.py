"""Headless Chromium for the browser tests: what is missing, and a driver with a scratch profile."""

from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager


def find_browser():
    """(chromium, chromedriver, [what is missing, with the install command])."""
    missing = []
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install selenium)")
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not chrome:
        missing.append("chromium (apt-get install -y --no-install-recommends chromium)")
    if not driver:
        missing.append("chromedriver (apt-get install -y --no-install-recommends chromium-driver)")
    return chrome, driver, missing


@contextmanager
def chromium(window=(1000, 900), script_timeout=30):
    """A headless Chromium at device pixel ratio 1 with a throw-away profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome, driver, missing = find_browser()
    if missing:
        raise RuntimeError("browser test needs " + ", ".join(missing))
    profile = tempfile.mkdtemp(prefix="levitor_chrome_")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}",
                 "--force-device-scale-factor=1", "--disable-dev-shm-usage"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    drv.set_script_timeout(script_timeout)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)
