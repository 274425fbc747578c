"""Zep's v1 API (Zep 0.27, zep-python 1.x) against moto: the same use cases as v2 behind /api/v1, with v0.27's
answers where the two differ (README.md, "API v1"); tenancy and bad input as on v2."""

from typing import Any

import pytest

from tests.integration.conftest import Invoke, all_items

V1 = "/api/v1"


def _lines(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"role": "human" if i % 2 == 0 else "ai", "content": f"line {i} about otters"} for i in range(start, n)]


def test_the_v1_flow_of_zep_0_27(api: Invoke) -> None:
    assert api("POST", f"{V1}/user", {"user_id": "ann", "email": "ann@example.com"}).status == 201
    created = api("POST", f"{V1}/sessions", {"session_id": "s1", "user_id": "ann", "metadata": {"a": 1}})
    assert created.status == 201 and created.body["session_id"] == "s1"

    added = api("POST", f"{V1}/sessions/s1/memory", {"messages": _lines(3)})
    assert (added.status, added.body, added.headers["Content-Type"]) == (200, "OK", "text/plain")

    memory = api("GET", f"{V1}/sessions/s1/memory").body
    assert [m["content"] for m in memory["messages"]] == [f"line {i} about otters" for i in range(3)]
    assert memory["messages"][0]["role"] == "human" and memory["messages"][0]["role_type"] == "norole"
    assert memory["summary"] is None
    assert [m["content"] for m in api("GET", f"{V1}/sessions/s1/memory", query="lastn=2").body["messages"]] == [
        "line 1 about otters",
        "line 2 about otters",
    ]
    assert len(api("GET", f"{V1}/sessions/s1/memory", query="lastn=0").body["messages"]) == 3  # 0: the window

    page = api("GET", f"{V1}/sessions/s1/messages", query="limit=2&cursor=2").body
    assert (page["total_count"], page["row_count"], page["messages"][0]["content"]) == (3, 1, "line 2 about otters")
    uuid = memory["messages"][0]["uuid"]
    assert api("GET", f"{V1}/sessions/s1/messages/{uuid}").body["content"] == "line 0 about otters"
    patched = api("PATCH", f"{V1}/sessions/s1/messages/{uuid}", {"metadata": {"k": "v"}}).body
    assert patched["metadata"] == {"k": "v"}

    hits = api("POST", f"{V1}/sessions/s1/search", {"text": "line 2"}, query="limit=2").body
    assert hits[0]["message"]["content"] == "line 2 about otters"
    assert set(hits[0]) == {"message", "summary", "metadata", "dist"}  # v0.27: `dist`, no `score`

    assert api("PATCH", f"{V1}/sessions/s1", {"session_id": "s1", "metadata": {"b": 2}}).body["metadata"] == {
        "a": 1,
        "b": 2,
    }
    assert [s["session_id"] for s in api("GET", f"{V1}/sessions", query="limit=10&cursor=0").body] == ["s1"]
    assert [u["user_id"] for u in api("GET", f"{V1}/user", query="limit=10&cursor=0").body] == ["ann"]
    assert api("GET", f"{V1}/user/ann").body["email"] == "ann@example.com"
    assert api("PATCH", f"{V1}/user/ann", {"user_id": "ann", "first_name": "Ann"}).body["first_name"] == "Ann"
    assert [s["session_id"] for s in api("GET", f"{V1}/user/ann/sessions").body] == ["s1"]

    deleted = api("DELETE", f"{V1}/sessions/s1/memory")
    assert (deleted.status, deleted.body, deleted.headers["Content-Type"]) == (200, "OK", "text/plain")
    assert api("GET", f"{V1}/sessions/s1/memory").status == 404
    assert api("GET", f"{V1}/sessions/s1").status == 404
    assert (api("DELETE", f"{V1}/user/ann").status, api("GET", f"{V1}/user/ann").status) == (200, 404)


def test_one_implementation_behind_both_prefixes(api: Invoke) -> None:
    assert api("POST", f"{V1}/sessions/both/memory", {"messages": _lines(2)}).status == 200
    assert api("POST", "/api/v2/sessions/both/memory", {"messages": _lines(3, 2)}).status == 201
    v1 = api("GET", f"{V1}/sessions/both/memory").body
    v2 = api("GET", "/api/v2/sessions/both/memory").body
    assert v1 == v2 and len(v1["messages"]) == 3
    assert api("POST", "/api/v2/users", {"user_id": "bob"}).status == 201
    assert api("GET", f"{V1}/user/bob").body == api("GET", "/api/v2/users/bob").body
    assert api("POST", f"{V1}/user", {"user_id": "bob"}).status == 409  # the same users


def test_the_same_ids_in_two_tenants_are_two_things_on_v1(api: Invoke, ddb: Any) -> None:
    assert api("POST", f"{V1}/user", {"user_id": "ann"}, tenant="a").status == 201
    assert api("POST", f"{V1}/sessions", {"session_id": "secret", "user_id": "ann"}, tenant="a").status == 201
    assert api("POST", f"{V1}/sessions/secret/memory", {"messages": _lines(1)}, tenant="a").status == 200
    uuid = api("GET", f"{V1}/sessions/secret/memory", tenant="a").body["messages"][0]["uuid"]
    message = f"{V1}/sessions/secret/messages/{uuid}"
    before = all_items(ddb)
    for method, path, body in (
        ("GET", f"{V1}/sessions/secret", None),
        ("GET", f"{V1}/sessions/secret/memory", None),
        ("POST", f"{V1}/sessions/secret/search", {"text": "otters"}),
        ("GET", f"{V1}/sessions/secret/messages", None),
        ("GET", message, None),
        ("PATCH", message, {"metadata": {"x": 1}}),
        ("PATCH", f"{V1}/sessions/secret", {"metadata": {"x": 1}}),
        ("DELETE", f"{V1}/sessions/secret/memory", None),
        ("GET", f"{V1}/user/ann", None),
        ("GET", f"{V1}/user/ann/sessions", None),
        ("PATCH", f"{V1}/user/ann", {"email": "x@y.z"}),
        ("DELETE", f"{V1}/user/ann", None),
    ):
        assert api(method, path, body, tenant="b").status == 404, (method, path)
    assert api("GET", f"{V1}/sessions", tenant="b").body == []
    assert api("GET", f"{V1}/user", tenant="b").body == []
    assert api("POST", f"{V1}/sessions", {"session_id": "x", "user_id": "ann"}, tenant="b").status == 400
    assert all_items(ddb) == before, "nothing of A's was changed"


BAD_V1: list[tuple[str, str, str, Any, str | None, int, str]] = [
    # (method, path, query, body, raw body, status, words the message must contain)
    ("POST", "/sessions/s1/memory", "", None, '{"messages": [', 400, "not valid JSON"),
    ("POST", "/sessions/s1/memory", "", {"messages": [{"role": "x"}]}, None, 400, "content"),
    ("POST", "/sessions/s1/memory", "", {"messages": [{"content": "x", "role_type": "robot"}]}, None, 400, "role_type"),
    ("POST", "/sessions/s1/memory", "", {"messages": [{"content": "x", "metadata": [1]}]}, None, 400, "metadata"),
    ("POST", "/sessions/s1/memory", "", {"messages": [{"content": "x"}] * 100}, None, 413, "at most 99"),
    ("POST", "/sessions/" + "x" * 257 + "/memory", "", {"messages": [{"content": "x"}]}, None, 400, "session id"),
    ("POST", "/sessions", "", {"metadata": {}}, None, 400, "session_id"),
    ("POST", "/sessions", "", {"session_id": "new", "user_id": "nobody"}, None, 400, "user"),
    ("PATCH", "/sessions/s1", "", {"metadata": "x"}, None, 400, "metadata"),
    ("PATCH", "/sessions/s1/messages/not-a-uuid", "", {"metadata": {}}, None, 400, "UUID"),
    ("PATCH", "/sessions/s1/messages/00000000-0000-4000-8000-000000000000", "", {}, None, 400, "metadata"),
    ("POST", "/user", "", {"email": "x@y.z"}, None, 400, "user_id"),
    ("POST", "/user", "", {"user_id": "u", "metadata": 3}, None, 400, "metadata"),
    ("PATCH", "/user/ann", "", {"user_id": "bob"}, None, 400, "differs"),
    ("POST", "/sessions/s1/search", "", {}, None, 400, "text"),
    ("POST", "/sessions/s1/search", "", {"text": "x", "search_type": "fuzzy"}, None, 400, "search_type"),
    ("POST", "/sessions/s1/search", "", {"text": "x", "mmr_lambda": 2}, None, 400, "mmr_lambda"),
    ("POST", "/sessions/s1/search", "limit=0", {"text": "x"}, None, 400, "limit"),
    ("GET", "/sessions/s1/memory", "lastn=-1", None, None, 400, "lastn"),
    ("GET", "/sessions/s1/memory", "lastn=1001", None, None, 400, "lastn"),
    ("GET", "/sessions/s1/memory", "lastn=x", None, None, 400, "lastn"),
    ("GET", "/sessions/s1/messages", "cursor=0", None, None, 400, "cursor"),
    ("GET", "/sessions/s1/messages", "limit=abc", None, None, 400, "limit"),
    ("GET", "/sessions", "cursor=-1", None, None, 400, "cursor"),
    ("GET", "/sessions", "page_token=forged", None, None, 400, "token"),
    ("GET", "/user", "limit=0", None, None, 400, "limit"),
    ("GET", "/user/ann/sessions", "limit=1001", None, None, 400, "limit"),
]


@pytest.mark.parametrize(
    ("method", "path", "query", "body", "raw", "status", "words"), BAD_V1, ids=[f"{c[0]} {c[1]} {c[6]}" for c in BAD_V1]
)
def test_bad_input_on_v1_is_a_4xx_with_a_message_and_stores_nothing(
    api: Invoke, ddb: Any, method: str, path: str, query: str, body: Any, raw: str | None, status: int, words: str
) -> None:
    assert api("POST", f"{V1}/user", {"user_id": "ann"}).status == 201
    assert api("POST", f"{V1}/sessions/s1/memory", {"messages": _lines(1)}).status == 200
    before = all_items(ddb)
    reply = api(method, f"{V1}{path}", body, query=query, raw_body=raw)
    assert reply.status == status, reply.body
    assert words.lower() in reply.body["message"].lower(), reply.body
    assert all_items(ddb) == before, "nothing stored"


def test_a_body_that_is_not_json_is_a_415_on_v1(api: Invoke, ddb: Any) -> None:
    before = all_items(ddb)
    reply = api("POST", f"{V1}/sessions/s1/memory", raw_body="a=b", headers={"content-type": "text/plain"})
    assert reply.status == 415 and "JSON" in reply.body["message"]
    assert all_items(ddb) == before
