"""The console in headless Chromium against `chat-memory serve`: one server and one browser for the whole layer.

Chromium and chromedriver are required (`make browser` installs them; `.ci/run` calls it): missing, the tests fail."""

from collections.abc import Iterator

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from chat_memory_dev.browser.chrome import chromium
from chat_memory_dev.browser.demo import Demo, api_client, write_demo
from chat_memory_dev.local.child import LocalServe, local_serve

API_KEY = "cm_browser-suite-key-3e1d9c7b5a4f2e0d8c6b4a2f0e9d7c5b"
TABLE = "chat-memory-browser"
WIDE = (1280, 900)


@pytest.fixture(scope="session")
def served() -> Iterator[LocalServe]:
    with local_serve(API_KEY, TABLE, workers=2) as server:
        yield server


@pytest.fixture(scope="session")
def console_url(served: LocalServe) -> str:
    return f"{served.url}/console"


@pytest.fixture(scope="session")
def demo(served: LocalServe) -> Demo:
    with api_client(served.url, API_KEY) as client:
        return write_demo(client)


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    with chromium(*WIDE) as driver:
        yield driver


@pytest.fixture
def driver(browser: WebDriver) -> WebDriver:
    """The shared browser at the wide size (a test may resize it)."""
    browser.set_window_size(*WIDE)
    return browser
