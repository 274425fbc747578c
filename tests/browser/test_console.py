"""The memory console as a user sees it: headless Chromium on `chat-memory serve`, every step through the public API.

Each wait is for an element or a state of the page (WebDriverWait, 60 s bounds that tell "never" from "later" on a
busy machine), never a fixed pause."""

import re
import uuid

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import Select

from chat_memory_dev.browser.chrome import by_id, enter_key, overflows, settled, texts, wait_for
from chat_memory_dev.browser.demo import (
    LONG_SESSION_MESSAGES,
    SEED_HISTORY,
    Demo,
    add_messages,
    api_client,
    create_session,
)
from chat_memory_dev.local.child import LocalServe
from tests.browser.conftest import API_KEY

pytestmark = pytest.mark.browser


def _open_session(driver: WebDriver, console_url: str, session_id: str) -> None:
    enter_key(driver, console_url, API_KEY)
    settled(driver, "sessions-view")
    by_id(driver, "filter-session").send_keys(session_id)
    row = wait_for(
        driver,
        lambda d: d.find_elements(By.CSS_SELECTOR, f'#sessions-list li[data-session-id="{session_id}"]'),
        f"session {session_id} in the list",
    )[0]
    row.click()
    settled(driver, "session-view")
    assert by_id(driver, "session-id").text == session_id


def _set_range(driver: WebDriver, element_id: str, value: int) -> None:
    """Move a slider as a user does: its value, then the input and change events."""
    driver.execute_script(
        "const e = document.getElementById(arguments[0]); e.value = arguments[1];"
        "e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change'));",
        element_id,
        value,
    )


def _accept_confirmation(driver: WebDriver, accept: bool = True) -> str:
    alert = wait_for(driver, expected_conditions.alert_is_present(), "the confirmation")
    text = str(alert.text)
    if accept:
        alert.accept()
    else:
        alert.dismiss()
    return text


def test_the_key_opens_the_sessions_list_newest_first(driver: WebDriver, console_url: str, demo: Demo) -> None:
    enter_key(driver, console_url, API_KEY)
    settled(driver, "sessions-view")
    ids = [e.get_attribute("data-session-id") for e in driver.find_elements(By.CSS_SELECTOR, "#sessions-list li")]
    # write_demo made the seed session, then the long one: newest first.
    assert ids.index(demo.long_session) < ids.index(demo.seed_session)
    assert "newest first" in by_id(driver, "sessions-count").text
    assert driver.execute_script("return sessionStorage.length") == 1  # the key, in this tab only
    assert API_KEY not in driver.current_url


def test_the_sessions_list_filters_by_user_and_pages(driver: WebDriver, console_url: str, served: LocalServe) -> None:
    user = f"pager-{uuid.uuid4().hex[:6]}"
    with api_client(served.url, API_KEY) as client:
        client.post("/users", json={"user_id": user}).raise_for_status()
        made = [f"{user}-s{n:02d}" for n in range(25)]
        for session_id in made:
            create_session(client, session_id, user)
    enter_key(driver, console_url, API_KEY)
    settled(driver, "sessions-view")
    by_id(driver, "filter-user").send_keys(user)
    wait_for(driver, lambda d: "25 of" in by_id(d, "sessions-count").text, "the filtered count")
    first_page = [
        e.get_attribute("data-session-id") for e in driver.find_elements(By.CSS_SELECTOR, "#sessions-list li")
    ]
    assert first_page == made[::-1][:20]  # 20 a page, newest first
    assert by_id(driver, "sessions-page").text == "page 1 of 2"
    by_id(driver, "sessions-next").click()
    second_page = [
        e.get_attribute("data-session-id") for e in driver.find_elements(By.CSS_SELECTOR, "#sessions-list li")
    ]
    assert second_page == made[::-1][20:]
    assert not by_id(driver, "sessions-next").is_enabled()


def test_the_seed_example_shows_its_three_messages_with_their_tokens(
    driver: WebDriver, console_url: str, demo: Demo
) -> None:
    _open_session(driver, console_url, demo.seed_session)
    rows = driver.find_elements(By.CSS_SELECTOR, "#memory-messages li")
    assert len(rows) == 3
    for row, message, count in zip(rows, SEED_HISTORY, demo.seed_tokens, strict=True):
        assert row.find_element(By.CLASS_NAME, "content").text == message["content"]
        assert row.find_element(By.CLASS_NAME, "who").text == message["role"]
        assert row.find_element(By.CLASS_NAME, "tokens").text == f"{count} tokens"
    total = sum(demo.seed_tokens)
    assert by_id(driver, "memory-total").text == f"Total {total} tokens: 3 messages, {total} tokens"
    assert by_id(driver, "memory-summary").is_displayed() is False  # 3 messages: no summary yet
    assert texts(driver, "#history-messages li .content") == [m["content"] for m in SEED_HISTORY]
    assert by_id(driver, "history-count").text == "messages 1\u20133 of 3"
    facts = by_id(driver, "session-facts").text
    assert demo.user_id in facts
    # Another memory type answers the same three messages (no summary to place before them).
    Select(by_id(driver, "memory-type")).select_by_value("message_window")
    settled(driver, "session-view")
    assert len(driver.find_elements(By.CSS_SELECTOR, "#memory-messages li")) == 3


def test_max_tokens_cuts_the_memory_to_the_budget(driver: WebDriver, console_url: str, demo: Demo) -> None:
    _open_session(driver, console_url, demo.long_session)
    _set_range(driver, "max-tokens", 100)
    wait_for(driver, lambda d: "budget 100" in by_id(d, "memory-total").text, "the memory within the budget")
    settled(driver, "session-view")
    total = by_id(driver, "memory-total").text
    match = re.match(r"Total (\d+) tokens?: (\d+) messages", total)
    assert match is not None, total
    sent, count = int(match[1]), int(match[2])
    assert 0 < sent <= 100
    assert f"budget 100: {sent} sent" in total  # the API's X-Memory-Tokens: what the page added up
    shown = [int(t.split()[0]) for t in texts(driver, "#memory-messages li .tokens")]
    summary = texts(driver, "#memory-summary .tokens")
    assert len(shown) == count
    assert sum(shown) + sum(int(s.split()[1]) for s in summary) == sent
    # The newest message is the last one shown.
    assert texts(driver, "#memory-messages li .content")[-1].startswith(f"Message {LONG_SESSION_MESSAGES}:")
    _set_range(driver, "max-tokens", 0)
    wait_for(driver, lambda d: "budget" not in by_id(d, "memory-total").text, "the memory without a budget")


def test_the_history_of_150_messages_pages_by_50(driver: WebDriver, console_url: str, demo: Demo) -> None:
    _open_session(driver, console_url, demo.long_session)

    def page_shows(first: int, last: int) -> None:
        wait_for(
            driver,
            lambda d: by_id(d, "history-count").text == f"messages {first}\u2013{last} of {LONG_SESSION_MESSAGES}",
            f"messages {first} to {last}",
        )
        settled(driver, "session-view")
        contents = texts(driver, "#history-messages li .content")
        assert len(contents) == last - first + 1
        assert contents[0].startswith(f"Message {first}:")
        assert contents[-1].startswith(f"Message {last}:")
        assert texts(driver, "#history-messages li .number")[0] == f"#{first}"

    page_shows(1, 50)
    assert not by_id(driver, "history-prev").is_enabled()
    by_id(driver, "history-next").click()
    page_shows(51, 100)
    by_id(driver, "history-next").click()
    page_shows(101, 150)
    assert by_id(driver, "history-page").text == "page 3 of 3"
    assert not by_id(driver, "history-next").is_enabled()
    by_id(driver, "history-prev").click()
    page_shows(51, 100)


def test_search_shows_results_with_scores(driver: WebDriver, console_url: str, demo: Demo) -> None:
    _open_session(driver, console_url, demo.seed_session)
    by_id(driver, "search-text").send_keys("movies of her books")
    by_id(driver, "search-submit").click()
    wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#search-results li .score"), "search results")
    settled(driver, "session-view")
    scores = [float(s.removeprefix("score ")) for s in texts(driver, "#search-results li .score")]
    assert scores[0] == 1.0  # the best result of a search scores 1
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    assert texts(driver, "#search-results li .content")[0] == SEED_HISTORY[2]["content"]
    assert "movies" not in driver.current_url


def test_deleting_a_session_asks_first_then_it_is_gone(driver: WebDriver, console_url: str, served: LocalServe) -> None:
    doomed = f"doomed-{uuid.uuid4().hex[:8]}"
    with api_client(served.url, API_KEY) as client:
        create_session(client, doomed)
    _open_session(driver, console_url, doomed)
    by_id(driver, "session-delete").click()
    assert doomed in _accept_confirmation(driver, accept=False)
    settled(driver, "session-view")  # dismissed: nothing happened
    with api_client(served.url, API_KEY) as client:
        assert client.get(f"/sessions/{doomed}").status_code == 200
    by_id(driver, "session-delete").click()
    _accept_confirmation(driver)
    settled(driver, "sessions-view")
    ids = [e.get_attribute("data-session-id") for e in driver.find_elements(By.CSS_SELECTOR, "#sessions-list li")]
    assert doomed not in ids
    with api_client(served.url, API_KEY) as client:
        assert client.get(f"/sessions/{doomed}").status_code == 404


def test_users_their_sessions_and_deleting_a_user(driver: WebDriver, console_url: str, served: LocalServe) -> None:
    user = f"leaving-{uuid.uuid4().hex[:6]}"
    with api_client(served.url, API_KEY) as client:
        client.post(
            "/users", json={"user_id": user, "first_name": "Lee", "email": "lee@example.com"}
        ).raise_for_status()
        create_session(client, f"{user}-a", user)
        create_session(client, f"{user}-b", user)
    enter_key(driver, console_url, API_KEY)
    by_id(driver, "nav-users").click()
    settled(driver, "users-view")

    def find_user(d: WebDriver) -> list[WebElement]:
        rows = d.find_elements(By.CSS_SELECTOR, f'#users-list li[data-user-id="{user}"]')
        if not rows and by_id(d, "users-next").is_enabled():
            by_id(d, "users-next").click()
            settled(d, "users-view")
        return rows

    wait_for(driver, find_user, f"user {user} in the list")[0].click()
    settled(driver, "user-view")
    assert "lee@example.com" in by_id(driver, "user-facts").text
    sessions = [e.get_attribute("data-session-id") for e in driver.find_elements(By.CSS_SELECTOR, "#user-sessions li")]
    assert sessions == [f"{user}-b", f"{user}-a"]  # newest first
    by_id(driver, "user-delete").click()
    assert user in _accept_confirmation(driver)
    settled(driver, "users-view")
    with api_client(served.url, API_KEY) as client:
        assert client.get(f"/users/{user}").status_code == 404
        assert client.get(f"/sessions/{user}-a").status_code == 404


def test_a_bad_key_is_refused_with_the_apis_message_and_asked_again(driver: WebDriver, console_url: str) -> None:
    enter_key(driver, console_url, "cm_not-a-key")
    settled(driver, "login")
    refusal = by_id(driver, "login-error").text
    answer = httpx.get(f"{console_url.removesuffix('/console')}/api/v2/sessions", headers={"Authorization": "Bearer x"})
    assert refusal == f"The API refused the key: {answer.json()['message']}"
    assert by_id(driver, "api-key").is_displayed()
    assert driver.execute_script("return sessionStorage.length") == 0  # the refused key is not kept
    # A key that stops working while the console is open: the next call asks for it again.
    enter_key(driver, console_url, API_KEY)
    settled(driver, "sessions-view")
    driver.execute_script("sessionStorage.setItem('chat-memory-console-key', 'cm_revoked')")
    by_id(driver, "sessions-reload").click()
    settled(driver, "login")
    assert by_id(driver, "login-error").text.startswith("The API refused the key: ")


def test_an_api_error_shows_the_apis_message(driver: WebDriver, console_url: str, served: LocalServe) -> None:
    vanishing = f"vanishing-{uuid.uuid4().hex[:8]}"
    with api_client(served.url, API_KEY) as client:
        add_messages(client, vanishing, SEED_HISTORY[:1])
        _open_session(driver, console_url, vanishing)
        client.delete(f"/sessions/{vanishing}/memory").raise_for_status()  # behind the console's back
        expected = client.get(f"/sessions/{vanishing}/memory").json()["message"]
    assert vanishing in expected  # the unknown session's 404 names it
    Select(by_id(driver, "memory-type")).select_by_value("summary_retriever")
    wait_for(driver, lambda d: by_id(d, "error").is_displayed(), "the error")
    assert by_id(driver, "error").text == expected
    assert by_id(driver, "session-view").is_displayed()  # not a key problem: the view stays


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 900)])
def test_every_view_fits_the_width(driver: WebDriver, console_url: str, demo: Demo, width: int, height: int) -> None:
    driver.set_window_size(width, height)
    enter_key(driver, console_url, API_KEY)
    settled(driver, "sessions-view")
    assert driver.execute_script("return window.innerWidth") == width
    assert not overflows(driver), "the sessions list"
    _open_session(driver, console_url, demo.long_session)
    assert not overflows(driver), "a session"
    by_id(driver, "nav-users").click()
    settled(driver, "users-view")
    assert not overflows(driver), "the users"
