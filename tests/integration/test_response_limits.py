"""Every answer fits Lambda's 6 MB response: a list takes fewer items and names the rest in X-Next-Page-Token.

The `api` fixture fails any answer over Lambda's response payload, so each call here is checked as AWS would.
"""

from typing import Any

import pytest

from tests.integration.conftest import Invoke

NEXT = "X-Next-Page-Token"
# 98 KB of UTF-8 that the Python runtime sends as 294 KB of \u escapes: twenty of them pass 6 MB.
WIDE_CONTENT = "é" * 49_000
BIG_METADATA = {"m": "x" * 63_000}
COUNT = 110  # of 63 KB each: 6.9 MB in one answer


def _follow(api: Invoke, path: str, query: str = "", key: str | None = None) -> tuple[list[Any], int]:
    """Every item of a listing, following its tokens; and how many answers it took."""
    seen: list[Any] = []
    token, answers = "", 0
    while True:
        separator = "&" if query else ""
        reply = api("GET", path, query=f"{query}{separator}page_token={token}" if token or query else "")
        assert reply.status == 200, reply.body
        answers += 1
        items = reply.body[key] if key else reply.body
        assert items, "a page with a token after it is never empty"
        seen += items
        token = reply.headers.get(NEXT, "")
        if not token:
            return seen, answers


def test_a_page_of_big_messages_is_cut_short_and_the_token_gives_the_rest(api: Invoke) -> None:
    message = {"role": "user", "role_type": "user", "content": WIDE_CONTENT}
    assert api("POST", "/api/v2/sessions/big/memory", {"messages": [message] * 30}).status == 201
    first = api("GET", "/api/v2/sessions/big/messages", query="limit=100")
    assert first.status == 200 and first.body["total_count"] == 30
    assert 0 < first.body["row_count"] == len(first.body["messages"]) < 30
    assert first.headers.get(NEXT)
    messages, answers = _follow(api, "/api/v2/sessions/big/messages", "limit=100", key="messages")
    assert answers >= 2
    uuids = [m["uuid"] for m in messages]
    assert len(uuids) == len(set(uuids)) == 30, "each message once"
    assert [m["created_at"] for m in messages] == sorted(m["created_at"] for m in messages), "oldest first"
    # A page number still works beside it: the page holds what fits of the messages it names.
    second = api("GET", "/api/v2/sessions/big/messages", query="limit=10&cursor=2")
    assert [m["uuid"] for m in second.body["messages"]] == uuids[10:20]
    memory = api("GET", "/api/v2/sessions/big/memory", query="lastn=30")
    kept = [m["uuid"] for m in memory.body["messages"]]
    assert 0 < len(kept) < 30 and kept == uuids[-len(kept) :], "the newest messages that fit"


def test_a_full_page_of_messages_names_the_next_one(api: Invoke) -> None:
    message = {"role": "user", "role_type": "user", "content": "hi"}
    assert api("POST", "/api/v2/sessions/s/memory", {"messages": [message] * 5}).status == 201
    messages, answers = _follow(api, "/api/v2/sessions/s/messages", "limit=2", key="messages")
    assert answers == 3 and len({m["uuid"] for m in messages}) == 5
    assert NEXT not in api("GET", "/api/v2/sessions/s/messages", query="limit=5").headers


@pytest.mark.parametrize("mode", ["page_token", "cursor"])
def test_a_list_of_big_sessions_is_cut_short_and_the_token_gives_the_rest(api: Invoke, mode: str) -> None:
    assert api("POST", "/api/v2/users", {"user_id": "u"}).status == 201
    for i in range(COUNT):
        body = {"session_id": f"s{i:03d}", "user_id": "u", "metadata": BIG_METADATA}
        assert api("POST", "/api/v2/sessions", body).status == 201
    query = "limit=1000" + ("&cursor=0" if mode == "cursor" else "")
    first = api("GET", "/api/v2/sessions", query=query)
    assert 0 < len(first.body) < COUNT and first.headers.get(NEXT)
    for path, query in (("/api/v2/sessions", "limit=1000"), ("/api/v2/users/u/sessions", "")):
        sessions, answers = _follow(api, path, query)
        assert answers >= 2
        assert [s["session_id"] for s in sessions] == [f"s{i:03d}" for i in range(COUNT)], path


def test_a_list_of_big_users_is_cut_short_and_the_token_gives_the_rest(api: Invoke) -> None:
    for i in range(COUNT):
        assert api("POST", "/api/v2/users", {"user_id": f"u{i:03d}", "metadata": BIG_METADATA}).status == 201
    users, answers = _follow(api, "/api/v2/users", "limit=1000")
    assert answers >= 2 and [u["user_id"] for u in users] == [f"u{i:03d}" for i in range(COUNT)]
    small, answers = _follow(api, "/api/v2/users", "limit=50")
    assert answers == 3 and len(small) == COUNT


def test_a_token_serves_only_the_listing_and_tenant_it_was_given_for(api: Invoke) -> None:
    for user in ("u1", "u2"):
        assert api("POST", "/api/v2/users", {"user_id": user}).status == 201
        for i in range(3):
            assert api("POST", "/api/v2/sessions", {"session_id": f"{user}-{i}", "user_id": user}).status == 201
    token = api("GET", "/api/v2/users/u1/sessions", query="limit=1").headers[NEXT]
    assert api("GET", "/api/v2/users/u1/sessions", query=f"limit=1&page_token={token}").status == 200
    for path, tenant in (
        ("/api/v2/users/u2/sessions", "default"),
        ("/api/v2/sessions", "default"),
        ("/api/v2/users", "default"),
        ("/api/v2/users/u1/sessions", "other"),
    ):
        reply = api("GET", path, query=f"page_token={token}", tenant=tenant)
        assert reply.status == 400 and "page_token" in reply.body["message"], (path, tenant)
    altered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    assert api("GET", "/api/v2/users/u1/sessions", query=f"page_token={altered}").status == 400
