"""Every call of zep-python 2.0.0rc6's `memory`, `message` and `user` clients, sync and async, and
its LangChain history class, over HTTP against `chat-memory serve` (issue 4).

The server is shared by the whole test session: every test makes its own ids and asserts on them only.
"""

import inspect
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from zep_python import ZepClient
from zep_python.exceptions import APIError, NotFoundError
from zep_python.langchain import ZepChatMessageHistory
from zep_python.memory import Memory
from zep_python.memory.client import MemoryClient
from zep_python.memory.models import MemorySearchPayload, Session
from zep_python.message import Message
from zep_python.message.client import MessageClient
from zep_python.message.models import RoleType
from zep_python.user import CreateUserRequest, UpdateUserRequest, User
from zep_python.user.client import UserClient

from tests.compat.conftest import API_KEY, wait_for_summary

pytestmark = pytest.mark.compat

# Ids that travel through a URL path unchanged (see the README on ids in paths).
ODD_IDS = ["with space", "percent%41sign", "100%", "naïve ünïcødé", "emoji 🦜🧠", "mix %20 🦜 &=;,"]

# Every method of the memory, message and user clients is part of the contract.
NOT_IN_SCOPE: set[str] = set()


# --------------------------------------------------------------------------------------------------- helpers


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _message(**fields: Any) -> Message:
    # zep-python's Message declares defaults with Field("..."), which type checkers read as required fields.
    return Message(**fields)


def _status(error: APIError) -> Any:
    return (error.response_data or {}).get("status_code")


def _lines(count: int, prefix: str = "Line") -> list[Message]:
    """`count` alternating user/assistant messages; every third one carries metadata."""
    return [
        _message(
            role="Jane" if i % 2 == 0 else "Bot",
            role_type="user" if i % 2 == 0 else "assistant",
            content=f"{prefix} {i}.",
            metadata={"i": i} if i % 3 == 0 else None,
        )
        for i in range(count)
    ]


def _add(client: ZepClient, session_id: str, messages: list[Message]) -> list[Message]:
    """Adds the messages and returns them as stored (read through get_memory, not the routes under test)."""
    client.memory.add_memory(session_id, Memory(messages=messages))
    memory = client.memory.get_memory(session_id, memory_type="message_window", lastn=len(messages))
    assert memory.messages is not None
    stored = memory.messages[-len(messages) :]
    assert [m.content for m in stored] == [m.content for m in messages]
    for message in stored:
        uuid.UUID(message.uuid)
    return stored


def _page(client: ZepClient, session_id: str, **params: Any) -> dict[str, Any]:
    """The raw message page (the client drops total_count and row_count)."""
    response = client.client.get(f"/sessions/{quote_plus(session_id)}/messages", params=params)
    assert response.status_code == 200, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert set(body) >= {"messages", "total_count", "row_count"}, body
    assert body["row_count"] == len(body["messages"]), body
    return body


def _same_message(actual: Message, expected: Message) -> None:
    fields = ("uuid", "created_at", "role", "role_type", "content", "token_count", "metadata")
    assert {f: getattr(actual, f) for f in fields} == {f: getattr(expected, f) for f in fields}


def _assert_valid_user(user: User) -> None:
    assert isinstance(user.uuid, uuid.UUID)  # pydantic already refused anything that is not a UUID
    assert isinstance(user.created_at, datetime)
    assert isinstance(user.updated_at, datetime)
    assert user.updated_at >= user.created_at


def _user_request(user_id: str, **fields: Any) -> CreateUserRequest:
    return CreateUserRequest(user_id=user_id, **fields)


def _ids_in_order(seen: list[str], mine: list[str]) -> list[str]:
    return [user_id for user_id in seen if user_id in set(mine)]


# ------------------------------------------------------------------------------------------ the whole surface


def test_every_client_method_is_called_in_this_module() -> None:
    source = Path(__file__).read_text(encoding="utf-8")
    missing = [
        f"{attribute}.{name}"
        for attribute, cls in (("memory", MemoryClient), ("message", MessageClient), ("user", UserClient))
        for name, _ in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") and name not in NOT_IN_SCOPE and f"{attribute}.{name}(" not in source
    ]
    assert missing == []


def test_a_call_we_do_not_serve_is_not_found_and_its_answer_says_why(client: ZepClient, base_url: str) -> None:
    session_id = _new_id("not-served")
    client.memory.add_memory(session_id, Memory(messages=_lines(2)))
    # The body tells a route this API does not serve from a session that does not exist.
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=base_url, headers=headers, trust_env=False) as http:
        not_served = http.get(f"/api/v2/sessions/{session_id}/facts")
        unknown = http.get(f"/api/v2/sessions/{_new_id('unknown')}")
        v1 = http.put(f"/api/v1/sessions/{session_id}/memory", json={})
        documents = http.get("/api/v2/collections")
    assert not_served.status_code == unknown.status_code == v1.status_code == 404
    assert not_served.json()["message"].startswith("route not served by chat-memory: GET /api/v2/sessions/")
    assert v1.json()["message"].startswith("route not served by chat-memory: PUT /api/v1/")
    assert documents.status_code == 501
    assert documents.json()["message"].startswith("the document store (collections and documents) is not served")
    assert "not found" in unknown.json()["message"] and "not served" not in unknown.json()["message"]


# -------------------------------------------------------------------------------------------- message pages


def test_session_messages_are_paged_oldest_first(client: ZepClient) -> None:
    session_id = _new_id("pages")
    stored = _add(client, session_id, _lines(14))  # more than the window: paging sees summarised messages too
    uuids = [m.uuid for m in stored]

    everything = client.message.get_session_messages(session_id)
    assert [m.uuid for m in everything] == uuids
    for actual, expected in zip(everything, stored, strict=True):
        _same_message(actual, expected)

    for cursor, expected_slice in ((1, slice(0, 5)), (2, slice(5, 10)), (3, slice(10, 14))):
        page = client.message.get_session_messages(session_id, limit=5, cursor=cursor)
        assert [m.uuid for m in page] == uuids[expected_slice], f"page {cursor}"
    assert client.message.get_session_messages(session_id, limit=5, cursor=4) == []
    assert client.message.get_session_messages(session_id, limit=5, cursor=99) == []

    assert [m.uuid for m in client.message.get_session_messages(session_id, limit=1, cursor=1)] == uuids[:1]
    assert [m.uuid for m in client.message.get_session_messages(session_id, limit=1, cursor=14)] == uuids[13:]
    assert client.message.get_session_messages(session_id, limit=1, cursor=15) == []
    assert [m.uuid for m in client.message.get_session_messages(session_id, limit=14, cursor=1)] == uuids
    assert [m.uuid for m in client.message.get_session_messages(session_id, limit=1000, cursor=1)] == uuids


def test_session_message_page_counts(client: ZepClient) -> None:
    session_id = _new_id("counts")
    uuids = [m.uuid for m in _add(client, session_id, _lines(7))]
    cases: list[tuple[dict[str, Any], list[str | None]]] = [
        ({"limit": 3, "cursor": 1}, uuids[0:3]),
        ({"limit": 3, "cursor": 2}, uuids[3:6]),
        ({"limit": 3, "cursor": 3}, uuids[6:7]),
        ({"limit": 3, "cursor": 4}, []),
        ({"limit": 1, "cursor": 7}, uuids[6:7]),
        ({"limit": 1, "cursor": 8}, []),
        ({}, uuids),  # absent: the first page of the default size
        ({"limit": "", "cursor": ""}, uuids),  # empty strings mean absent
    ]
    for params, expected in cases:
        body = _page(client, session_id, **params)
        assert [m["uuid"] for m in body["messages"]] == expected, params
        assert body["total_count"] == 7, params
        assert body["row_count"] == len(expected), params


def test_session_messages_of_an_empty_session(client: ZepClient) -> None:
    session_id = _new_id("empty")
    client.memory.add_session(Session(session_id=session_id))
    assert client.message.get_session_messages(session_id) == []
    body = _page(client, session_id, limit=10, cursor=1)
    assert (body["messages"], body["total_count"], body["row_count"]) == ([], 0, 0)


def test_messages_of_an_unknown_session_are_not_found(client: ZepClient) -> None:
    missing = _new_id("missing")
    with pytest.raises(NotFoundError):
        client.message.get_session_messages(missing)
    with pytest.raises(NotFoundError):
        client.message.get_session_message(missing, str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        client.message.update_message_metadata(missing, str(uuid.uuid4()), {"metadata": {"a": 1}})


# ---------------------------------------------------------------------------------------------- one message


def test_get_session_message_by_uuid(client: ZepClient) -> None:
    session_id = _new_id("one")
    result = client.memory.add_memory(session_id, Memory(messages=_lines(3)))
    added = [m["uuid"] for m in json.loads(result)["messages"]]
    stored = client.memory.get_memory(session_id, memory_type="message_window", lastn=3).messages or []
    assert [m.uuid for m in stored] == added

    for expected in stored:
        assert expected.uuid is not None
        _same_message(client.message.get_session_message(session_id, expected.uuid), expected)

    with pytest.raises(NotFoundError):
        client.message.get_session_message(session_id, str(uuid.uuid4()))
    other = _new_id("other")
    [foreign] = _add(client, other, _lines(1, prefix="Foreign"))
    assert foreign.uuid is not None
    with pytest.raises(NotFoundError):  # a message is only found in its own session
        client.message.get_session_message(session_id, foreign.uuid)
    with pytest.raises((NotFoundError, APIError)) as info:  # not a UUID at all: 404, or a 400
        client.message.get_session_message(session_id, "not-a-uuid")
    if isinstance(info.value, APIError):
        assert _status(info.value) == 400


def test_update_message_metadata_deep_merges(client: ZepClient) -> None:
    session_id = _new_id("meta")
    first = _message(
        role="Jane",
        role_type="user",
        content="Tag me.",
        metadata={"foo": "bar", "nested": {"a": 1, "b": {"c": 2}}, "tags": [1, 2], "keep": True},
    )
    second = _message(role="Bot", role_type="assistant", content="No metadata here.")
    stored = _add(client, session_id, [first, second])
    target, plain = stored
    assert target.uuid is not None
    assert plain.uuid is not None

    patch = {"nested": {"b": {"d": 3}, "a": 10}, "tags": [3], "foo": None, "new": {"x": "y"}}
    expected = {"foo": None, "nested": {"a": 10, "b": {"c": 2, "d": 3}}, "tags": [3], "keep": True, "new": {"x": "y"}}
    updated = client.message.update_message_metadata(session_id, target.uuid, {"metadata": patch})
    assert updated.metadata == expected
    for name in ("uuid", "created_at", "role", "role_type", "content", "token_count"):
        assert getattr(updated, name) == getattr(target, name), name

    again = client.message.update_message_metadata(session_id, target.uuid, {"metadata": {"new": {"z": 1}}})
    expected["new"] = {"x": "y", "z": 1}
    assert again.metadata == expected
    unchanged = client.message.update_message_metadata(session_id, target.uuid, {"metadata": {}})
    assert unchanged.metadata == expected
    assert unchanged.token_count == target.token_count

    tagged = client.message.update_message_metadata(session_id, plain.uuid, {"metadata": {"feedback": "up"}})
    assert tagged.metadata == {"feedback": "up"}
    assert (tagged.content, tagged.token_count) == (plain.content, plain.token_count)

    # Every read sees the merged metadata, in the same position.
    assert client.message.get_session_message(session_id, target.uuid).metadata == expected
    listed = client.message.get_session_messages(session_id)
    assert [(m.uuid, m.metadata) for m in listed] == [(target.uuid, expected), (plain.uuid, {"feedback": "up"})]
    memory = client.memory.get_memory(session_id)
    assert memory.messages is not None
    assert [(m.uuid, m.metadata, m.token_count) for m in memory.messages] == [
        (target.uuid, expected, target.token_count),
        (plain.uuid, {"feedback": "up"}, plain.token_count),
    ]


def test_update_metadata_of_an_unknown_message_is_not_found(client: ZepClient) -> None:
    session_id = _new_id("meta-missing")
    _add(client, session_id, _lines(1))
    [foreign] = _add(client, _new_id("meta-other"), _lines(1))
    assert foreign.uuid is not None
    with pytest.raises(NotFoundError):
        client.message.update_message_metadata(session_id, str(uuid.uuid4()), {"metadata": {"a": 1}})
    with pytest.raises(NotFoundError):
        client.message.update_message_metadata(session_id, foreign.uuid, {"metadata": {"a": 1}})
    assert len(client.message.get_session_messages(session_id)) == 1


@pytest.mark.parametrize("odd", ODD_IDS)
def test_message_routes_with_odd_session_ids(client: ZepClient, odd: str) -> None:
    session_id = f"{odd} {uuid.uuid4().hex[:8]}"
    stored = _add(client, session_id, _lines(2))
    assert [m.uuid for m in client.message.get_session_messages(session_id, limit=1, cursor=2)] == [stored[1].uuid]
    assert stored[0].uuid is not None
    assert client.message.get_session_message(session_id, stored[0].uuid).uuid == stored[0].uuid
    updated = client.message.update_message_metadata(session_id, stored[0].uuid, {"metadata": {"odd": True}})
    assert updated.metadata == {"i": 0, "odd": True}


# ------------------------------------------------------------------------------------------ sessions + users


def test_add_session_for_an_unknown_user_is_refused(client: ZepClient) -> None:
    session_id = _new_id("orphan")
    with pytest.raises(APIError) as info:
        client.memory.add_session(Session(session_id=session_id, user_id=_new_id("nobody")))
    assert _status(info.value) == 400
    with pytest.raises(NotFoundError):
        client.memory.get_session(session_id)


def test_sessions_of_a_user(client: ZepClient) -> None:
    user_id = _new_id("owner")
    client.user.add(_user_request(user_id))
    assert client.user.get_sessions(user_id) == []

    ids = [_new_id("owned"), _new_id("owned")]
    for session_id in ids:
        created = client.memory.add_session(Session(session_id=session_id, user_id=user_id, metadata={"a": {"b": 1}}))
        assert (created.session_id, created.user_id) == (session_id, user_id)
    client.memory.add_session(Session(session_id=_new_id("unowned")))
    client.memory.add_memory(ids[0], Memory(messages=_lines(2)))

    sessions = client.user.get_sessions(user_id)
    assert sorted(s.session_id for s in sessions) == sorted(ids)
    assert all(isinstance(s, Session) and s.user_id == user_id for s in sessions)
    assert client.memory.get_session(ids[0]).user_id == user_id

    updated = client.memory.update_session(Session(session_id=ids[0], metadata={"a": {"c": 2}, "d": [1]}))
    assert updated.metadata == {"a": {"b": 1, "c": 2}, "d": [1]}
    assert updated.user_id == user_id
    assert {s.session_id: s.metadata for s in client.user.get_sessions(user_id)}[ids[0]] == updated.metadata

    # The offset cursor that list_all_sessions uses sees them, each once.
    seen: list[str] = []
    offset = 0
    while page := client.memory.list_sessions(limit=50, cursor=offset):
        seen.extend(s.session_id for s in page)
        offset += 50
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))


def test_delete_memory_of_a_users_session(client: ZepClient) -> None:
    user_id = _new_id("keeper")
    client.user.add(_user_request(user_id))
    doomed, kept = _new_id("doomed"), _new_id("kept")
    for session_id in (doomed, kept):
        client.memory.add_session(Session(session_id=session_id, user_id=user_id))
    [message] = _add(client, doomed, _lines(1))
    _add(client, kept, _lines(2))
    assert message.uuid is not None

    assert json.loads(client.memory.delete_memory(doomed))["message"] == "OK"
    with pytest.raises(NotFoundError):
        client.memory.get_session(doomed)
    with pytest.raises(NotFoundError):
        client.memory.get_memory(doomed)
    with pytest.raises(NotFoundError):
        client.message.get_session_messages(doomed)
    with pytest.raises(NotFoundError):
        client.message.get_session_message(doomed, message.uuid)
    assert [s.session_id for s in client.user.get_sessions(user_id)] == [kept]
    assert client.user.get(user_id).user_id == user_id
    assert len(client.message.get_session_messages(kept)) == 2
    seen = [s.session_id for chunk in client.memory.list_all_sessions(chunk_size=100) for s in chunk]
    assert doomed not in seen
    assert kept in seen


# ---------------------------------------------------------------------------------------------------- users


def test_add_and_get_a_user(client: ZepClient) -> None:
    user_id = _new_id("user")
    fields: dict[str, Any] = {
        "email": "jane@example.com",
        "first_name": "Jane",
        "last_name": "Doe",
        "metadata": {"plan": "pro", "prefs": {"lang": "en"}},
    }
    created = client.user.add(_user_request(user_id, **fields))
    _assert_valid_user(created)
    assert created.user_id == user_id
    assert created.model_dump(include=set(fields)) == fields

    fetched = client.user.get(user_id)
    assert (fetched.user_id, fetched.uuid, fetched.created_at) == (user_id, created.uuid, created.created_at)
    assert fetched.model_dump(include=set(fields)) == fields

    with pytest.raises(APIError) as info:
        client.user.add(_user_request(user_id, email="other@example.com"))
    assert _status(info.value) == 409
    assert client.user.get(user_id).email == "jane@example.com"

    with pytest.raises(NotFoundError):
        client.user.get(_new_id("no-user"))


def test_add_a_user_with_only_an_id(client: ZepClient) -> None:
    user_id = _new_id("bare")
    created = client.user.add(_user_request(user_id))
    _assert_valid_user(created)
    assert (created.email, created.first_name, created.last_name) == (None, None, None)
    assert created.metadata in (None, {})
    assert client.user.get(user_id).uuid == created.uuid


def test_update_a_user(client: ZepClient) -> None:
    user_id = _new_id("update")
    created = client.user.add(
        _user_request(
            user_id, email="a@example.com", first_name="Ann", last_name="Lee", metadata={"a": {"b": 1}, "n": 1}
        )
    )
    request = UpdateUserRequest(user_id=user_id, email="b@example.com", metadata={"a": {"c": 2}, "n": 2, "m": None})
    updated = client.user.update(request)
    _assert_valid_user(updated)
    assert (updated.uuid, updated.created_at) == (created.uuid, created.created_at)
    assert updated.updated_at is not None
    assert created.updated_at is not None
    assert updated.updated_at >= created.updated_at
    assert (updated.email, updated.first_name, updated.last_name) == ("b@example.com", "Ann", "Lee")
    assert updated.metadata == {"a": {"b": 1, "c": 2}, "n": 2, "m": None}

    renamed = client.user.update(UpdateUserRequest(user_id=user_id, first_name="Anne", last_name="Leigh"))
    assert (renamed.email, renamed.first_name, renamed.last_name) == ("b@example.com", "Anne", "Leigh")
    assert renamed.metadata == {"a": {"b": 1, "c": 2}, "n": 2, "m": None}
    fetched = client.user.get(user_id)
    assert fetched.model_dump(include={"email", "first_name", "last_name", "metadata"}) == renamed.model_dump(
        include={"email", "first_name", "last_name", "metadata"}
    )

    with pytest.raises(NotFoundError):
        client.user.update(UpdateUserRequest(user_id=_new_id("no-user"), email="x@example.com"))


def test_list_users_with_the_offset_cursor(client: ZepClient) -> None:
    mine = [_new_id("listed") for _ in range(3)]
    for user_id in mine:
        client.user.add(_user_request(user_id))

    seen: list[str] = []
    offset = 0
    while page := client.user.list(limit=2, cursor=offset):
        assert 1 <= len(page) <= 2
        assert all(isinstance(u, User) for u in page)
        seen.extend(u.user_id for u in page)
        offset += 2
    assert len(seen) == len(set(seen)), "pages overlap"
    assert _ids_in_order(seen, mine) == mine, "users run in creation order"

    assert len(client.user.list(limit=1, cursor=0)) == 1
    assert client.user.list(limit=2, cursor=len(seen) + 10) == []
    everyone = client.user.list()  # limit= and cursor= sent empty: absent
    assert everyone
    assert all(isinstance(u, User) for u in everyone)
    for user in client.user.list(limit=len(seen), cursor=0):
        _assert_valid_user(user)


def test_list_users_in_chunks(client: ZepClient) -> None:
    mine = [_new_id("chunked") for _ in range(3)]
    for user_id in mine:
        client.user.add(_user_request(user_id))
    chunks = list(client.user.list_chunked(chunk_size=2))
    assert chunks
    assert all(1 <= len(chunk) <= 2 for chunk in chunks)
    assert all(len(chunk) == 2 for chunk in chunks[:-1])
    seen = [u.user_id for chunk in chunks for u in chunk]
    assert len(seen) == len(set(seen)), "chunks overlap"
    assert _ids_in_order(seen, mine) == mine


def test_delete_a_user_forgets_them_and_their_sessions(client: ZepClient) -> None:
    user_id, other_user = _new_id("forget"), _new_id("stay")
    client.user.add(_user_request(user_id, metadata={"a": 1}))
    client.user.add(_user_request(other_user))
    theirs = [_new_id("theirs"), _new_id("theirs")]
    for session_id in theirs:
        client.memory.add_session(Session(session_id=session_id, user_id=user_id))
    their_messages = [_add(client, session_id, _lines(3)) for session_id in theirs]
    other_session = _new_id("others")
    client.memory.add_session(Session(session_id=other_session, user_id=other_user))
    other_messages = _add(client, other_session, _lines(2))

    client.user.delete(user_id)

    with pytest.raises(NotFoundError):
        client.user.get(user_id)
    for session_id, messages in zip(theirs, their_messages, strict=True):
        with pytest.raises(NotFoundError):
            client.memory.get_session(session_id)
        with pytest.raises(NotFoundError):
            client.memory.get_memory(session_id)
        with pytest.raises(NotFoundError):
            client.message.get_session_messages(session_id)
        for message in messages:
            assert message.uuid is not None
            with pytest.raises(NotFoundError):
                client.message.get_session_message(session_id, message.uuid)
    with pytest.raises(NotFoundError):
        client.user.delete(user_id)
    with pytest.raises(NotFoundError):
        client.user.update(UpdateUserRequest(user_id=user_id, email="x@example.com"))
    with pytest.raises(NotFoundError):
        client.user.get_sessions(user_id)
    assert user_id not in [u.user_id for chunk in client.user.list_chunked(chunk_size=100) for u in chunk]
    listed = {s.session_id for chunk in client.memory.list_all_sessions(chunk_size=100) for s in chunk}
    assert not listed & set(theirs)

    # Everything of the other user is untouched.
    assert [s.session_id for s in client.user.get_sessions(other_user)] == [other_session]
    assert client.memory.get_session(other_session).user_id == other_user
    assert [m.uuid for m in client.message.get_session_messages(other_session)] == [m.uuid for m in other_messages]
    assert other_session in listed

    # A user created again under the same id starts empty; so does a session created again.
    again = client.user.add(_user_request(user_id))
    assert again.metadata in (None, {})
    assert client.user.get_sessions(user_id) == []
    client.memory.add_session(Session(session_id=theirs[0], user_id=user_id))
    assert client.message.get_session_messages(theirs[0]) == []
    assert [s.session_id for s in client.user.get_sessions(user_id)] == [theirs[0]]


def test_calls_on_an_unknown_user_are_not_found(client: ZepClient) -> None:
    with pytest.raises(NotFoundError):
        client.user.get_sessions(_new_id("no-user"))
    with pytest.raises(NotFoundError):
        client.user.delete(_new_id("no-user"))
    with pytest.raises(NotFoundError):
        client.user.update(UpdateUserRequest(user_id=_new_id("no-user"), metadata={"a": 1}))


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_user_ids_round_trip(client: ZepClient, odd: str) -> None:
    user_id = f"{odd} {uuid.uuid4().hex[:8]}"
    assert client.user.add(_user_request(user_id)).user_id == user_id
    assert client.user.get(user_id).user_id == user_id
    assert client.user.update(UpdateUserRequest(user_id=user_id, metadata={"odd": True})).metadata == {"odd": True}
    session_id = f"{odd} session {uuid.uuid4().hex[:8]}"
    client.memory.add_session(Session(session_id=session_id, user_id=user_id))
    assert [s.session_id for s in client.user.get_sessions(user_id)] == [session_id]
    client.user.delete(user_id)
    with pytest.raises(NotFoundError):
        client.user.get(user_id)
    with pytest.raises(NotFoundError):
        client.memory.get_session(session_id)


# ---------------------------------------------------------------------------------------------------- search


def test_search_memory_finds_by_words_filters_and_scopes(client: ZepClient) -> None:
    session_id = _new_id("search")
    lines = [
        _message(role="Jane", role_type="user", content="I adopted a puppy called Biscuit", metadata={"k": "pets"}),
        _message(role="Bot", role_type="assistant", content="Lovely! What breed is Biscuit?"),
        _message(role="Jane", role_type="user", content="We painted the kitchen yellow", metadata={"k": "home"}),
    ]
    client.memory.add_memory(session_id, Memory(messages=lines))
    found = client.memory.search_memory(session_id, MemorySearchPayload(text="adopting puppies"), limit=2)
    assert found[0].message is not None and found[0].message.content == "I adopted a puppy called Biscuit"
    assert found[0].score == 1.0 and len(found) <= 2
    where = {"where": {"jsonpath": '$[*] ? (@.k == "home")'}}
    filtered = client.memory.search_memory(session_id, MemorySearchPayload(metadata=where))
    assert [r.message.content for r in filtered if r.message] == ["We painted the kitchen yellow"]
    mmr = MemorySearchPayload(text="Biscuit", search_type="mmr", mmr_lambda=0.5)
    assert {r.message.content for r in client.memory.search_memory(session_id, mmr) if r.message} >= {
        "I adopted a puppy called Biscuit"
    }
    assert client.memory.search_memory(session_id, MemorySearchPayload(text="kitchen", search_scope="summary")) == []
    with pytest.raises(NotFoundError):
        client.memory.search_memory(_new_id("unknown"), MemorySearchPayload(text="x"))


async def test_async_search_memory(aclient: ZepClient, client: ZepClient) -> None:
    session_id = _new_id("asearch")
    client.memory.add_memory(session_id, Memory(messages=_lines(6)))
    found = await aclient.memory.asearch_memory(session_id, MemorySearchPayload(text="Line 4"), limit=3)
    assert found and found[0].message is not None and found[0].message.content == "Line 4."


# ------------------------------------------------------------------------------------------- dialog tools


def _shoe_talk() -> list[Message]:
    return [
        _message(role="Jane", role_type="user", content="I need new running shoes, maybe Nike."),
        _message(role="Bot", role_type="assistant", content="The Nike Pegasus 41 is $130 today."),
        _message(role="Jane", role_type="user", content="Do they come in size 9?"),
    ]


def test_synthesize_question_and_classify_session(client: ZepClient) -> None:
    session_id = _new_id("dialog")
    client.memory.add_memory(session_id, Memory(messages=_shoe_talk()))
    question = client.memory.synthesize_question(session_id, last_n=2)
    assert question == "Do they come in size 9 (context: Nike Pegasus 41, $130)?"  # offline: no model configured
    classified = client.memory.classify_session(session_id, "sport", ["running", "tennis", "unknown"])
    assert (classified.name, classified.class_) == ("sport", "running")
    kept = client.memory.classify_session(session_id, "kept", ["golf"], last_n=1, persist=False, instruction="x")
    assert kept.class_ == "other"
    session = client.memory.get_session(session_id)
    assert session.metadata == {"system": {"classes": {"sport": "running"}}}
    with pytest.raises(NotFoundError):
        client.memory.synthesize_question(_new_id("unknown"))
    with pytest.raises(NotFoundError):
        client.memory.classify_session(_new_id("unknown"), "sport", ["running"])
    with pytest.raises(APIError) as refused:
        client.memory.classify_session(session_id, "sport", ["running", "Running"])
    assert _status(refused.value) == 400
    with pytest.raises(APIError) as out_of_range:
        client.memory.synthesize_question(session_id, last_n=0)
    assert _status(out_of_range.value) == 400


async def test_async_synthesize_question_and_classify_session(aclient: ZepClient) -> None:
    session_id = _new_id("adialog")
    await aclient.memory.aadd_memory(session_id, Memory(messages=_shoe_talk()))
    assert await aclient.memory.asynthesize_question(session_id) == (
        "Do they come in size 9 (context: Nike Pegasus 41, $130)?"
    )
    classified = await aclient.memory.aclassify_session(session_id, "brand", ["adidas", "nike"], last_n=3)
    assert classified.class_ == "nike"
    session = await aclient.memory.aget_session(session_id)
    assert session.metadata == {"system": {"classes": {"brand": "nike"}}}


# ---------------------------------------------------------------------------------------------------- async


async def test_async_memory_calls(aclient: ZepClient) -> None:
    session_id = _new_id("amemory")
    created = await aclient.memory.aadd_session(Session(session_id=session_id, metadata={"a": {"b": 1}}))
    assert created.session_id == session_id
    result = await aclient.memory.aadd_memory(session_id, Memory(messages=_lines(3)))
    assert json.loads(result)["message"] == "OK"
    memory = await aclient.memory.aget_memory(session_id, memory_type="message_window", lastn=2)
    assert [m.content for m in memory.messages or []] == ["Line 1.", "Line 2."]
    updated = await aclient.memory.aupdate_session(Session(session_id=session_id, metadata={"a": {"c": 2}}))
    assert updated.metadata == {"a": {"b": 1, "c": 2}}
    assert (await aclient.memory.aget_session(session_id)).metadata == {"a": {"b": 1, "c": 2}}

    seen: list[str] = []
    offset = 0
    while page := await aclient.memory.alist_sessions(limit=50, cursor=offset):
        seen.extend(s.session_id for s in page)
        offset += 50
    assert session_id in seen
    chunked = [s.session_id async for chunk in aclient.memory.alist_all_sessions(chunk_size=7) for s in chunk]
    assert session_id in chunked
    assert len(chunked) == len(set(chunked))

    assert json.loads(await aclient.memory.adelete_memory(session_id))["message"] == "OK"
    with pytest.raises(NotFoundError):
        await aclient.memory.aget_session(session_id)
    with pytest.raises(NotFoundError):
        await aclient.memory.aget_memory(session_id)
    with pytest.raises(NotFoundError):
        await aclient.message.aget_session_messages(session_id)


async def test_async_message_pages(aclient: ZepClient, client: ZepClient) -> None:
    session_id = _new_id("apages")
    uuids = [m.uuid for m in _add(client, session_id, _lines(5))]
    assert [m.uuid for m in await aclient.message.aget_session_messages(session_id)] == uuids
    pages = [await aclient.message.aget_session_messages(session_id, limit=2, cursor=c) for c in (1, 2, 3, 4)]
    assert [[m.uuid for m in page] for page in pages] == [uuids[0:2], uuids[2:4], uuids[4:5], []]
    assert [m.uuid for m in await aclient.message.aget_session_messages(session_id, limit=1, cursor=5)] == uuids[4:]
    assert await aclient.message.aget_session_messages(session_id, limit=1, cursor=6) == []
    with pytest.raises(NotFoundError):
        await aclient.message.aget_session_messages(_new_id("amissing"))


async def test_async_message_lookup_and_metadata(aclient: ZepClient, client: ZepClient) -> None:
    session_id = _new_id("ameta")
    stored = _add(client, session_id, _lines(2))
    target = stored[0]
    assert target.uuid is not None
    _same_message(await aclient.message.aget_session_message(session_id, target.uuid), target)
    with pytest.raises(NotFoundError):
        await aclient.message.aget_session_message(session_id, str(uuid.uuid4()))

    patch = {"metadata": {"feedback": {"thumbs": "up"}}}
    updated = await aclient.message.aupdate_message_metadata(session_id, target.uuid, patch)
    assert updated.metadata == {"i": 0, "feedback": {"thumbs": "up"}}
    assert (updated.content, updated.token_count) == (target.content, target.token_count)
    patch = {"metadata": {"feedback": {"note": "clear"}}}
    again = await aclient.message.aupdate_message_metadata(session_id, target.uuid, patch)
    assert again.metadata == {"i": 0, "feedback": {"thumbs": "up", "note": "clear"}}
    assert (await aclient.message.aget_session_message(session_id, target.uuid)).metadata == again.metadata
    with pytest.raises(NotFoundError):
        await aclient.message.aupdate_message_metadata(session_id, str(uuid.uuid4()), patch)


async def test_async_user_calls(aclient: ZepClient) -> None:
    user_id = _new_id("auser")
    created = await aclient.user.aadd(_user_request(user_id, first_name="Ann", metadata={"a": {"b": 1}}))
    _assert_valid_user(created)
    with pytest.raises(APIError) as info:
        await aclient.user.aadd(_user_request(user_id))
    assert _status(info.value) == 409

    fetched = await aclient.user.aget(user_id)
    assert (fetched.uuid, fetched.first_name) == (created.uuid, "Ann")
    with pytest.raises(NotFoundError):
        await aclient.user.aget(_new_id("ano-user"))

    updated = await aclient.user.aupdate(UpdateUserRequest(user_id=user_id, last_name="Lee", metadata={"a": {"c": 2}}))
    assert (updated.first_name, updated.last_name) == ("Ann", "Lee")
    assert updated.metadata == {"a": {"b": 1, "c": 2}}
    with pytest.raises(NotFoundError):
        await aclient.user.aupdate(UpdateUserRequest(user_id=_new_id("ano-user"), last_name="Lee"))


async def test_async_user_listing(aclient: ZepClient) -> None:
    mine = [_new_id("alisted") for _ in range(3)]
    for user_id in mine:
        await aclient.user.aadd(_user_request(user_id))
    seen: list[str] = []
    offset = 0
    while page := await aclient.user.alist(limit=2, cursor=offset):
        assert 1 <= len(page) <= 2
        seen.extend(u.user_id for u in page)
        offset += 2
    assert len(seen) == len(set(seen))
    assert _ids_in_order(seen, mine) == mine
    assert await aclient.user.alist(limit=2, cursor=len(seen) + 10) == []

    chunks = [chunk async for chunk in aclient.user.alist_chunked(chunk_size=2)]
    assert all(1 <= len(chunk) <= 2 for chunk in chunks)
    assert all(len(chunk) == 2 for chunk in chunks[:-1])
    chunked = [u.user_id for chunk in chunks for u in chunk]
    assert len(chunked) == len(set(chunked))
    assert _ids_in_order(chunked, mine) == mine


async def test_async_user_sessions_and_delete(aclient: ZepClient, client: ZepClient) -> None:
    user_id = _new_id("adelete")
    await aclient.user.aadd(_user_request(user_id))
    session_id = _new_id("asession")
    with pytest.raises(APIError) as info:
        await aclient.memory.aadd_session(Session(session_id=session_id, user_id=_new_id("anobody")))
    assert _status(info.value) == 400
    await aclient.memory.aadd_session(Session(session_id=session_id, user_id=user_id))
    [message] = _add(client, session_id, _lines(1))
    assert message.uuid is not None
    assert [s.session_id for s in await aclient.user.aget_sessions(user_id)] == [session_id]

    await aclient.user.adelete(user_id)
    with pytest.raises(NotFoundError):
        await aclient.user.aget(user_id)
    with pytest.raises(NotFoundError):
        await aclient.memory.aget_session(session_id)
    with pytest.raises(NotFoundError):
        await aclient.memory.aget_memory(session_id)
    with pytest.raises(NotFoundError):
        await aclient.message.aget_session_messages(session_id)
    with pytest.raises(NotFoundError):
        await aclient.message.aget_session_message(session_id, message.uuid)
    with pytest.raises(NotFoundError):
        await aclient.user.adelete(user_id)


# ------------------------------------------------------------------------------------------------- LangChain


def _contents(messages: list[BaseMessage]) -> list[tuple[type, Any]]:
    return [(type(m), m.content) for m in messages]


def test_langchain_history_round_trip(client: ZepClient) -> None:
    session_id = _new_id("langchain")
    history = ZepChatMessageHistory(session_id=session_id, zep_client=client)
    assert history.messages == []  # no session yet

    history.add_user_message("Who was Octavia Butler?", metadata={"source": "chat"})
    history.add_ai_message("An American science fiction author.")
    history.add_message(HumanMessage(content="Which of her books were filmed?"))

    messages = history.messages
    assert _contents(messages) == [
        (HumanMessage, "Who was Octavia Butler?"),
        (AIMessage, "An American science fiction author."),
        (HumanMessage, "Which of her books were filmed?"),
    ]
    for message in messages:
        uuid.UUID(message.additional_kwargs["uuid"])
        assert message.additional_kwargs["token_count"] > 0
        assert message.additional_kwargs["created_at"]
    assert messages[0].additional_kwargs["metadata"] == {"source": "chat"}

    zep_messages = history.zep_messages or []
    assert [(m.role, m.role_type) for m in zep_messages] == [
        ("human", RoleType.USER_ROLE),
        ("ai", RoleType.ASSISTANT_ROLE),
        ("human", RoleType.USER_ROLE),
    ]
    assert history.zep_summary is None
    assert [m.content for m in client.message.get_session_messages(session_id)] == [m.content for m in messages]

    history.clear()
    assert history.messages == []
    with pytest.raises(NotFoundError):
        client.memory.get_memory(session_id)
    history.clear()  # the client swallows the 404 of a second clear


def test_langchain_history_message_window(client: ZepClient) -> None:
    session_id = _new_id("langchain-window")
    history = ZepChatMessageHistory(session_id=session_id, zep_client=client, memory_type="message_window")
    history.add_messages(
        [HumanMessage(content=f"Q{i}") if i % 2 == 0 else AIMessage(content=f"A{i}") for i in range(4)]
    )
    assert _contents(history.messages) == [
        (HumanMessage, "Q0"),
        (AIMessage, "A1"),
        (HumanMessage, "Q2"),
        (AIMessage, "A3"),
    ]
    history.clear()
    assert history.messages == []


async def test_langchain_history_async(client: ZepClient) -> None:
    session_id = _new_id("langchain-async")
    history = ZepChatMessageHistory(session_id=session_id, zep_client=client)
    await history.aadd_messages([HumanMessage(content="Hello"), AIMessage(content="Hi, Jane.")])
    assert _contents(await history.aget_messages()) == [(HumanMessage, "Hello"), (AIMessage, "Hi, Jane.")]
    await history.aclear()
    assert await history.aget_messages() == []


def test_langchain_history_with_a_summary(client: ZepClient) -> None:
    session_id = _new_id("langchain-summary")
    history = ZepChatMessageHistory(session_id=session_id, zep_client=client)
    for i in range(7):
        history.add_user_message(f"Question {i}: what happened in chapter {i}?")
        history.add_ai_message(f"Answer {i}: a great deal happened in chapter {i}.")
    wait_for_summary(client, session_id)

    messages = history.messages
    summary = history.zep_summary
    assert summary
    assert isinstance(messages[0], SystemMessage)
    assert messages[0].content == summary
    recent = messages[1:]
    assert 1 <= len(recent) <= 12
    assert all(isinstance(m, HumanMessage | AIMessage) for m in recent)
    assert recent[-1].content == "Answer 6: a great deal happened in chapter 6."
    assert len(client.message.get_session_messages(session_id)) == 14  # pages still hold every message
