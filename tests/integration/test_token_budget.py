"""GET memory?max_tokens=N: the newest messages that fit a token budget with the summary, never part of one; the
read is the window's reverse Query, stopped once the budget is met; headers say what was used."""

from typing import Any

import pytest

from tests.integration.conftest import CallLog, Invoke

MEMORY = "/api/v2/sessions/s/memory"


def _fill(api: Invoke, count: int) -> list[dict[str, Any]]:
    """`count` messages of growing length; their stored token counts, oldest first."""
    for start in range(0, count, 50):
        messages = [
            {"role": "Jane", "role_type": "user", "content": " ".join(["word"] * (1 + n % 7)) + f" {n}"}
            for n in range(start, min(count, start + 50))
        ]
        assert api("POST", MEMORY, {"messages": messages}).status == 201
    listed: list[dict[str, Any]] = api("GET", "/api/v2/sessions/s/messages", query=f"limit={count}").body["messages"]
    return listed


def _newest_fitting(stored: list[dict[str, Any]], budget: int) -> list[str]:
    kept: list[str] = []
    used = 0
    for message in reversed(stored):
        if used + message["token_count"] > budget:
            break
        kept.insert(0, message["uuid"])
        used += message["token_count"]
    return kept


@pytest.mark.parametrize("budget", [1, 40, 100, 333])
def test_the_newest_messages_that_fit_and_what_they_use(api: Invoke, budget: int) -> None:
    stored = _fill(api, 120)
    reply = api("GET", MEMORY, query=f"max_tokens={budget}&memoryType=message_window")
    expected = _newest_fitting(stored, budget)
    assert [m["uuid"] for m in reply.body["messages"]] == expected
    used = sum(m["token_count"] for m in reply.body["messages"])
    assert reply.headers["X-Memory-Tokens"] == str(used) and used <= budget
    assert reply.headers["X-Memory-Truncated"] == "true", "older messages did not fit"


def test_lastn_caps_the_count_and_a_budget_that_holds_all_truncates_nothing(api: Invoke) -> None:
    stored = _fill(api, 30)
    capped = api("GET", MEMORY, query="lastn=5&max_tokens=100000")
    assert [m["uuid"] for m in capped.body["messages"]] == [m["uuid"] for m in stored[-5:]]
    assert capped.headers["X-Memory-Truncated"] == "false"
    everything = api("GET", MEMORY, query="max_tokens=100000")
    assert len(everything.body["messages"]) == 30, "without lastn the budget decides, not the 12-message window"
    assert everything.headers["X-Memory-Tokens"] == str(sum(m["token_count"] for m in stored))
    assert "X-Memory-Tokens" not in api("GET", MEMORY).headers, "no budget, no budget headers"


def test_a_newest_message_over_the_budget_gives_no_message_and_says_so(api: Invoke) -> None:
    assert api("POST", MEMORY, {"messages": [{"role": "J", "role_type": "user", "content": "many words " * 50}]})
    reply = api("GET", MEMORY, query="max_tokens=10")
    assert reply.status == 200 and reply.body["messages"] == []
    assert reply.headers["X-Memory-Tokens"] == "0" and reply.headers["X-Memory-Truncated"] == "true"


def test_the_read_stops_once_the_budget_is_met(api: Invoke, calls: CallLog) -> None:
    stored = _fill(api, 400)
    calls.clear()
    reply = api("GET", MEMORY, query="max_tokens=60")
    kept = len(reply.body["messages"])
    assert kept == len(_newest_fitting(stored, 60)) and kept > 0
    queries = calls.named("Query")
    assert 1 <= len(queries) <= 3 and all(q["ScanIndexForward"] is False for q in queries)
    assert sum(q["Limit"] for q in queries) <= kept + 6, "it asks for about what it returns, not the history"


@pytest.mark.parametrize("bad", ["0", "1000001", "-5", "ten", "1.5"])
def test_a_bad_budget_is_a_400_that_names_it(api: Invoke, bad: str) -> None:
    _fill(api, 2)
    reply = api("GET", MEMORY, query=f"max_tokens={bad}")
    assert reply.status == 400 and "max_tokens" in reply.body["message"]


def test_v1_takes_the_budget_too(api: Invoke) -> None:
    stored = _fill(api, 20)
    for query in ("max_tokens=30", "lastn=15&max_tokens=30"):
        reply = api("GET", "/api/v1/sessions/s/memory", query=query)
        assert [m["uuid"] for m in reply.body["messages"]] == _newest_fitting(stored, 30), query
        assert reply.headers["X-Memory-Truncated"] == "true"
    assert api("GET", "/api/v1/sessions/s/memory", query="max_tokens=0").status == 400
