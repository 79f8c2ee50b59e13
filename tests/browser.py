"""A real headless Chromium for the viewer's tests (Debian's chromium + chromium-driver, driven by selenium).

A missing browser fails the tests that need it, loudly, with the command that installs it: the viewer is
tested as a person would open it, never skipped into a pass."""

from __future__ import annotations

import os
import shutil

import pytest

INSTALL = "apt-get update && apt-get install -y --no-install-recommends chromium chromium-driver"


def _find(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


def start_chrome(width: int = 1500, height: int = 950):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = os.environ.get("CHROME_BIN") or _find("chromium", "chromium-browser", "google-chrome")
    driver = os.environ.get("CHROMEDRIVER") or _find("chromedriver")
    if not binary or not driver:
        pytest.fail(
            f"the viewer's browser tests need Chromium and ChromeDriver, which are not installed here "
            f"(chromium: {binary}, chromedriver: {driver}); install them with: {INSTALL}"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
        "--allow-file-access-from-files",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def console_errors(browser) -> list[str]:
    """Everything the page logged as an error (a failed script load, an exception)."""
    return [entry["message"] for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
