"""`chat-memory screenshots`: the console's main views as PNGs (docs/console-*.png, shown in the README), taken in
headless Chromium on a fresh `chat-memory serve` holding the demo data (demo.py)."""

from __future__ import annotations

import argparse
import secrets
import time
from pathlib import Path
from typing import Final

import httpx
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from chat_memory_dev.browser.chrome import by_id, chromium, enter_key, full_page_screenshot, settled, wait_for
from chat_memory_dev.browser.demo import add_messages, api_client, create_session, write_demo
from chat_memory_dev.local.child import local_serve

WIDE: Final = (1280, 900)
NARROW: Final = (390, 844)
SUMMARY_WAIT_S: Final = 300.0  # the summariser runs from the stream, in the background: a bound, not a target
OTHER_SESSIONS: Final = (  # a few more sessions, so that the list looks like a list
    ("support-7f3a", "My order arrived without the charger."),
    ("onboarding-b21c", "How do I invite my team?"),
    ("travel-plans-e9d0", "Find me a quiet hotel in Lisbon for May."),
)


def _wait_for_summary(client: httpx.Client, session_id: str) -> None:
    deadline = time.monotonic() + SUMMARY_WAIT_S
    while client.get(f"/sessions/{session_id}/memory").json().get("summary") is None:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no summary of {session_id} after {SUMMARY_WAIT_S:.0f} s")
        time.sleep(0.5)


def _open_session(driver: WebDriver, session_id: str) -> None:
    by_id(driver, "nav-sessions").click()
    settled(driver, "sessions-view")
    driver.find_element(By.CSS_SELECTOR, f'#sessions-list li[data-session-id="{session_id}"]').click()
    settled(driver, "session-view")


def take(out: Path) -> list[Path]:
    key = f"cm_{secrets.token_urlsafe(32)}"
    written: list[Path] = []
    with local_serve(key, "chat-memory-screenshots") as served:
        with api_client(served.url, key) as client:
            for session_id, text in OTHER_SESSIONS:
                create_session(client, session_id)
                add_messages(client, session_id, [{"role": "customer", "role_type": "user", "content": text}])
            demo = write_demo(client, suffix="demo")
            _wait_for_summary(client, demo.long_session)
        console = f"{served.url}/console"
        with chromium(*WIDE) as driver:
            enter_key(driver, console, key)
            settled(driver, "sessions-view")
            written.append(out / "console-sessions.png")
            full_page_screenshot(driver, written[-1], WIDE[0])

            _open_session(driver, demo.long_session)
            written.append(out / "console-memory.png")
            full_page_screenshot(driver, written[-1], WIDE[0], max_height=1300)

            _open_session(driver, demo.seed_session)
            by_id(driver, "search-text").send_keys("movies of her books")
            by_id(driver, "search-submit").click()
            wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results .score"), "search results")
            settled(driver, "session-view")
            written.append(out / "console-session.png")
            full_page_screenshot(driver, written[-1], WIDE[0])

            by_id(driver, "nav-users").click()
            settled(driver, "users-view")
            driver.find_element(By.CSS_SELECTOR, f'#users-list li[data-user-id="{demo.user_id}"]').click()
            settled(driver, "user-view")
            written.append(out / "console-user.png")
            full_page_screenshot(driver, written[-1], WIDE[0])

            driver.set_window_size(*NARROW)
            _open_session(driver, demo.seed_session)
            written.append(out / "console-narrow.png")
            full_page_screenshot(driver, written[-1], NARROW[0], max_height=NARROW[1])

            enter_key(driver, console, "cm_not-a-key")
            settled(driver, "login")
            written.append(out / "console-key.png")
            full_page_screenshot(driver, written[-1], NARROW[0], max_height=NARROW[1])
    return written


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for the PNGs (default: %(default)s)")


def run_args(args: argparse.Namespace) -> int:
    for path in take(args.out):
        print(f"wrote {path}")
    return 0
