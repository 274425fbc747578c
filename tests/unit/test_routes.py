"""The HTTP routes over in-memory fakes of the ports, through Powertools' `dependency_overrides`: the edge's own
work (typed parameters, response models, paging, the request's scope, errors -> HTTP) without AWS."""

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chat_memory import wiring
from chat_memory.handlers import add_memory, reads, writes
from chat_memory.service.memory import AddMemory, DeleteMemory, GetMemory
from chat_memory.service.sessions import Messages, Sessions
from chat_memory.service.users import Users
from tests.http_events import FakeContext, Reply, http_event, route_handler
from tests.unit.fakes import InMemoryStore

Call = Callable[..., Reply]


class _Words:
    def count(self, text: str) -> int:
        return len(text.split())


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def call(store: InMemoryStore) -> Iterator[Call]:
    overrides: dict[Callable[..., Any], Callable[..., Any]] = {
        wiring.sessions: lambda: Sessions(store=store, users=store),
        wiring.messages: lambda: Messages(store=store),
        wiring.users: lambda: Users(store=store),
        wiring.get_memory: lambda: GetMemory(store=store, default_window=3),
        wiring.delete_memory: lambda: DeleteMemory(store=store),
        wiring.add_memory: lambda: AddMemory(store=store, tokens=_Words()),
    }
    modules = (reads, writes, add_memory)
    for module in modules:
        module.app.dependency_overrides.update(overrides)

    def invoke(method: str, path: str, body: Any = None, query: str = "", tenant: str | None = "t1") -> Reply:
        result = route_handler(method, path)(http_event(method, path, body, query, tenant=tenant), FakeContext())
        return Reply(result["statusCode"], result["headers"], json.loads(result["body"]))

    yield invoke
    for module in modules:
        module.app.dependency_overrides.clear()


def _messages(*contents: str) -> dict[str, Any]:
    return {"messages": [{"role": "Jane", "role_type": "user", "content": c} for c in contents]}


def test_a_session_is_written_read_and_paged_through_the_ports(call: Call, store: InMemoryStore) -> None:
    assert call("POST", "/api/v2/sessions/s+1/memory", _messages("one two", "three", "four", "five")).status == 201
    assert ("t1", "s 1") in store.sessions, "the path's '+' is a space, as zep-python encodes it"
    memory = call("GET", "/api/v2/sessions/s+1/memory", query="memoryType=MemoryType.perpetual&lastn=")
    assert [m["content"] for m in memory.body["messages"]] == ["three", "four", "five"], "the window of 3"
    assert memory.body["messages"][0]["token_count"] == 2, "counted as Zep does: 'user: three'"
    assert memory.body["summary"] is None
    assert memory.headers["X-Consumed-Capacity"] == "read=0; write=0", "the request's scope ran"
    first = call("GET", "/api/v2/sessions/s+1/messages", query="limit=3")
    assert first.body["row_count"] == 3 and first.body["total_count"] == 4
    rest = call(
        "GET", "/api/v2/sessions/s+1/messages", query=f"limit=3&page_token={first.headers['X-Next-Page-Token']}"
    )
    assert [m["content"] for m in rest.body["messages"]] == ["five"] and "X-Next-Page-Token" not in rest.headers


def test_users_and_their_sessions_answer_the_documented_shapes(call: Call) -> None:
    user = call("POST", "/api/v2/users", {"user_id": "jane", "email": "j@example.com"})
    assert user.status == 201 and set(user.body) == {"user_id", "uuid", "created_at", "updated_at", "metadata", "email"}
    for sid in ("a", "b"):
        assert call("POST", "/api/v2/sessions", {"session_id": sid, "user_id": "jane"}).status == 201
    assert [s["session_id"] for s in call("GET", "/api/v2/users/jane/sessions").body] == ["a", "b"]
    bare = call("POST", "/api/v2/sessions", {"session_id": "c"}).body
    assert "user_id" not in bare, "absent fields are left out, never null"
    assert call("DELETE", "/api/v2/users/jane").body == {"message": "OK"}
    assert call("GET", "/api/v2/sessions/a").status == 404


@pytest.mark.parametrize(
    ("path", "query", "where"),
    [
        ("/api/v2/sessions", "limit=%2B5", "query.limit"),
        ("/api/v2/sessions", "limit=0", "query.limit"),
        ("/api/v2/sessions", "cursor=1&page_token=x", None),
        ("/api/v2/sessions/s/memory", "memoryType=window", "query.memoryType"),
        ("/api/v2/sessions/s/messages/not-a-uuid", "", "path.message_id"),
        ("/api/v2/sessions/..", "", "path.session_id"),
    ],
)
def test_bad_parameters_are_one_400_shape(call: Call, path: str, query: str, where: str | None) -> None:
    reply = call("GET", path, query=query.replace("%2B", "+"))
    assert reply.status == 400 and isinstance(reply.body["message"], str)
    if where is not None:
        assert [e["location"] for e in reply.body["errors"]] == [where]
        assert "Value error" not in reply.body["message"]


def test_domain_errors_and_a_missing_tenant_map_to_http_in_one_place(call: Call) -> None:
    assert call("GET", "/api/v2/sessions/nobody").body == {"message": "session 'nobody' not found"}
    assert call("GET", "/api/v2/sessions/nobody").status == 404
    assert call("POST", "/api/v2/sessions", {"session_id": "s", "user_id": "ghost"}).status == 400
    assert call("GET", "/api/v2/sessions", tenant=None).status == 401


def test_tenants_see_only_their_own(call: Call) -> None:
    assert call("POST", "/api/v2/sessions", {"session_id": "mine"}, tenant="t1").status == 201
    assert call("GET", "/api/v2/sessions", tenant="t2").body == []
    assert call("GET", "/api/v2/sessions/mine", tenant="t2").status == 404
