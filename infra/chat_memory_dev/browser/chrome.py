"""Headless Chromium through Debian's chromium and chromium-driver (`make browser` installs them)."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM: Final = Path("/usr/bin/chromium")
CHROMEDRIVER: Final = Path("/usr/bin/chromedriver")
# A bound that tells "never" from "later" on a busy machine, not a speed target.
WAIT_S: Final = 60.0
FLAGS: Final = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-pings",
    "--disable-dev-shm-usage",
    "--no-proxy-server",  # loopback only, whatever the environment's proxy variables say
)


class BrowserMissingError(RuntimeError):
    """Chromium or its driver is not installed."""


def missing() -> list[str]:
    """What of Chromium and chromedriver is not installed (empty: both are)."""
    return [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]


@contextlib.contextmanager
def chromium(width: int = 1280, height: int = 900) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile (removed afterwards) and a window of `width` x `height` CSS pixels."""
    if absent := missing():
        raise BrowserMissingError(
            f"not installed: {', '.join(absent)} (`make browser` installs chromium and chromium-driver)"
        )
    with tempfile.TemporaryDirectory(prefix="chat-memory-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
        try:
            driver.set_window_size(width, height)
            yield driver
        finally:
            driver.quit()


def wait_for(driver: WebDriver, condition: Callable[[WebDriver], Any], what: str, timeout_s: float = WAIT_S) -> Any:
    """`condition`'s first truthy result, polled until `timeout_s`; the timeout's message says what was awaited."""
    return WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(condition, f"waited {timeout_s:.0f} s for {what}")


def idle(driver: WebDriver) -> bool:
    """No API call of the console is running (its <body data-pending> is 0)."""
    return bool(driver.execute_script("return document.body.dataset.pending") == "0")


def settled(driver: WebDriver, view: str, timeout_s: float = WAIT_S) -> None:
    """Wait until the console shows `view` (a section id) with no API call running."""
    wait_for(
        driver,
        lambda d: idle(d) and d.execute_script("return document.body.dataset.view") == view,
        f"the console's {view} with no API call running",
        timeout_s,
    )


def by_id(driver: WebDriver, element_id: str) -> WebElement:
    return driver.find_element(By.ID, element_id)


def texts(driver: WebDriver, css: str) -> list[str]:
    """The visible text of every element matching `css`."""
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, css)]


def enter_key(driver: WebDriver, console_url: str, api_key: str) -> None:
    """Open the console in a clean tab and give it the key; returns once the sessions list (or the refusal) shows."""
    driver.get(console_url)
    driver.execute_script("sessionStorage.clear()")
    driver.refresh()
    wait_for(driver, lambda d: by_id(d, "api-key").is_displayed(), "the API key field")
    field = by_id(driver, "api-key")
    field.clear()
    field.send_keys(api_key)
    by_id(driver, "login-submit").click()
    wait_for(
        driver,
        lambda d: (
            idle(d)
            and d.execute_script("return document.body.dataset.view")
            in (
                "sessions-view",
                "login",
            )
        ),
        "the sessions list or the key prompt",
    )


def overflows(driver: WebDriver) -> bool:
    """True when the page is wider than the window (a horizontal scroll bar)."""
    return bool(driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth"))


def full_page_screenshot(driver: WebDriver, path: Path, width: int, max_height: int = 2400) -> None:
    """The whole page (up to `max_height` CSS pixels) as a PNG: the window is made as tall as the page first (the
    window's height includes what the browser itself takes, so the page's viewport is measured and made up for)."""
    height = min(max(int(driver.execute_script("return document.body.scrollHeight")), 400), max_height)
    driver.set_window_size(width, height)
    viewport = int(driver.execute_script("return window.innerHeight"))
    driver.set_window_size(width, 2 * height - viewport)
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
