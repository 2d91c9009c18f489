"""Debian's headless chromium driven through its chromedriver, for the page's tests.

The browser and the driver come from the system packages (``apt-get install chromium
chromium-driver``): both paths are given to Selenium, and Selenium Manager is told to stay
offline, so nothing is ever downloaded. Without them the tests skip and say why.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["CHROMEDRIVER", "CHROMIUM", "browser_missing", "headless_chromium", "screenshot"]

CHROMIUM = Path(os.environ.get("NEWSWATCH_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("NEWSWATCH_CHROMEDRIVER", "/usr/bin/chromedriver"))


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (path.is_file() and os.access(path, os.X_OK)):
            return (
                f"{path} not found: install Debian's {package} "
                "(apt-get install chromium chromium-driver) to run the browser tests"
            )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


@contextmanager
def headless_chromium(
    width: int = 1280,
    height: int = 900,
    *,
    dark: bool = False,
    phone: bool = False,
    headers: dict[str, str] | None = None,
) -> Iterator[Any]:
    """A headless chromium window; ``dark`` asks pages for their dark scheme, ``phone`` makes
    the viewport a phone's (``width`` x ``height``, touch, mobile layout: a window cannot be
    that narrow), ``headers`` are sent with every request (an ``Authorization``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # tests may run as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-proxy-server",  # the page is on loopback; http_proxy is for the fake outlets
        "--no-first-run",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.set_page_load_timeout(30)
        if dark:
            driver.execute_cdp_cmd(
                "Emulation.setEmulatedMedia",
                {"features": [{"name": "prefers-color-scheme", "value": "dark"}]},
            )
        if phone:
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 2, "mobile": True},
            )
        if headers:
            driver.execute_cdp_cmd("Network.enable", {})
            driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, path: Path, width: int = 1280) -> None:
    """The whole page, not only the window: the window is grown to the document's height."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, min(max(height + 120, 600), 4000))
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
