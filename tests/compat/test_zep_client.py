"""The real zep-python 2.0.0rc6 client, sync and async, over HTTP against `chat-memory serve`."""

import json
import uuid
import warnings
from datetime import datetime
from typing import Any

import pytest
from zep_python import ZepClient
from zep_python.exceptions import APIError, AuthError, NotFoundError
from zep_python.memory import Memory
from zep_python.memory.models import Session
from zep_python.message import Message
from zep_python.message.models import RoleType

from tests.compat.conftest import API_KEY, wait_for_summary

pytestmark = pytest.mark.compat

# The user's example (seed/zep-memory-docs.txt), messages built exactly as there: no role_type given.
HISTORY: list[dict[str, Any]] = [
    {"role": "Jane", "role_type": "user", "content": "Who was Octavia Butler?"},
    {
        "role": "HistoryBot",
        "role_type": "assistant",
        "content": (
            "Octavia Estelle Butler (June 22, 1947 \u2013 February 24, 2006) was an American science fiction author."
        ),
    },
    {
        "role": "Jane",
        "role_type": "user",
        "content": "Which books of hers were made into movies?",
        "metadata": {"foo": "bar"},
    },
]

# Ids that travel through a URL path unchanged. API Gateway (HTTP API) percent-decodes the path before the
# function sees it, so '/' splits the path, '?' and '#' cut it, and '+' reads as a space: see the README.
ODD_IDS = [
    "with space",
    "percent%41sign",  # %41 must not be decoded twice (to 'A')
    "100%",
    "naïve ünïcødé",
    "emoji 🦜🧠",
    "mix %20 🦜 &=;,",
]


def _new_id(prefix: str = "compat") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _message(**fields: Any) -> Message:
    # zep-python's Message declares defaults with Field("..."), which type checkers read as required fields.
    return Message(**fields)


def _example_memory() -> Memory:
    messages = [_message(role=m["role"], content=m["content"], metadata=m.get("metadata")) for m in HISTORY]
    return Memory(messages=messages)


def _messages(memory: Memory) -> list[Message]:
    assert memory.messages is not None
    return memory.messages


def _status(error: APIError) -> Any:
    return (error.response_data or {}).get("status_code")


def _assert_valid_messages(messages: list[Message]) -> None:
    stamps = [m.created_at or "" for m in messages]
    assert all(stamp.endswith("Z") for stamp in stamps)
    times = [datetime.fromisoformat(stamp.replace("Z", "+00:00")) for stamp in stamps]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    for message in messages:
        uuid.UUID(message.uuid)
        assert isinstance(message.token_count, int)
        assert message.token_count > 0


# ------------------------------------------------------------------------------------------- health and auth


def test_constructor_passes_the_health_check_without_a_key(base_url: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. the client's "incompatible Zep server version" warning
        for key in (API_KEY, "z_cloud_style_key", "wrong", None):
            ZepClient(api_url=base_url, api_key=key).close()  # /healthz is public


def test_a_valid_key_is_needed_for_everything_else(base_url: str) -> None:
    valid = ZepClient(api_url=base_url, api_key=API_KEY)
    try:
        assert isinstance(valid.memory.list_sessions(limit=1), list)
    finally:
        valid.close()
    for key in ("wrong", "z_cloud_style_key", f"{API_KEY}x", None):  # Bearer, Api-Key, near miss, no header
        zep = ZepClient(api_url=base_url, api_key=key)
        try:
            with pytest.raises(AuthError):
                zep.memory.list_sessions(limit=1)
            with pytest.raises(AuthError):
                zep.memory.get_memory("any-session")
        finally:
            zep.close()


async def test_a_wrong_key_is_an_auth_error_async(base_url: str) -> None:
    async with ZepClient(api_url=base_url, api_key="wrong") as zep:
        with pytest.raises(AuthError):
            await zep.memory.aget_session("any-session")


def test_health_check_failure_is_reported(base_url: str) -> None:
    with pytest.raises(APIError):
        ZepClient(api_url=f"{base_url}/not-the-api-root", api_key=API_KEY)


# ----------------------------------------------------------------------------------------- the user's example


async def test_users_example_sync_add_then_async_perpetual_memory(client: ZepClient, base_url: str) -> None:
    session_id = uuid.uuid4().hex  # as in the example
    result = client.memory.add_memory(session_id, _example_memory())
    assert json.loads(result)["message"] == "OK"

    async with ZepClient(api_url=base_url, api_key=API_KEY) as zep:
        memory = await zep.memory.aget_memory(session_id, memory_type="perpetual")
    assert memory.summary is None
    assert [(m.role, m.content, m.metadata) for m in _messages(memory)] == [
        (m["role"], m["content"], m.get("metadata")) for m in HISTORY
    ]
    assert all(m.role_type == RoleType.NO_ROLE for m in _messages(memory))
    _assert_valid_messages(_messages(memory))


async def test_async_add_sync_read_and_message_window(client: ZepClient, aclient: ZepClient) -> None:
    session_id = _new_id()
    await aclient.memory.aadd_memory(session_id, _example_memory())
    window = client.memory.get_memory(session_id, memory_type="message_window", lastn=2)
    assert [m.content for m in _messages(window)] == [m["content"] for m in HISTORY[1:]]
    _assert_valid_messages(_messages(window))
    awindow = await aclient.memory.aget_memory(session_id, memory_type="message_window", lastn=2)
    assert [m.uuid for m in _messages(awindow)] == [m.uuid for m in _messages(window)]
    default = client.memory.get_memory(session_id)  # perpetual by default
    assert [m.content for m in _messages(default)] == [m["content"] for m in HISTORY]


def test_role_types_given_by_the_caller_are_kept(client: ZepClient) -> None:
    session_id = _new_id()
    messages = [_message(role=m["role"], role_type=m["role_type"], content=m["content"]) for m in HISTORY]
    client.memory.add_memory(session_id, Memory(messages=messages))
    memory = client.memory.get_memory(session_id)
    assert [m.role_type for m in _messages(memory)] == [RoleType.USER_ROLE, RoleType.ASSISTANT_ROLE, RoleType.USER_ROLE]


def test_messages_append_to_an_existing_session(client: ZepClient) -> None:
    session_id = _new_id()
    client.memory.add_memory(session_id, _example_memory())
    client.memory.add_memory(session_id, Memory(messages=[_message(role="Jane", content="And Kindred?")]))
    memory = client.memory.get_memory(session_id, memory_type="perpetual")
    assert [m.content for m in _messages(memory)][-2:] == [HISTORY[2]["content"], "And Kindred?"]
    assert len(_messages(memory)) == 4
    _assert_valid_messages(_messages(memory))


# -------------------------------------------------------------------------------------------------- not found


def test_unknown_session_is_not_found_sync(client: ZepClient) -> None:
    with pytest.raises(NotFoundError):
        client.memory.get_memory(_new_id("missing"), memory_type="perpetual")
    with pytest.raises(NotFoundError):
        client.memory.get_session(_new_id("missing"))
    with pytest.raises(NotFoundError):
        client.memory.update_session(Session(session_id=_new_id("missing"), metadata={"a": 1}))


async def test_unknown_session_is_not_found_async(aclient: ZepClient) -> None:
    with pytest.raises(NotFoundError):
        await aclient.memory.aget_memory(_new_id("missing"), memory_type="perpetual")
    with pytest.raises(NotFoundError):
        await aclient.memory.aget_session(_new_id("missing"))


# --------------------------------------------------------------------------------------------------- sessions


def test_add_get_update_session(client: ZepClient) -> None:
    session_id = _new_id("session")
    metadata = {"topic": "books", "prefs": {"lang": "en", "tags": ["sf"]}, "n": 1}
    created = client.memory.add_session(Session(session_id=session_id, metadata=metadata))
    assert created.session_id == session_id
    assert created.metadata == metadata
    uuid.UUID(created.uuid)
    assert created.created_at
    assert created.updated_at

    fetched = client.memory.get_session(session_id)
    assert (fetched.session_id, fetched.uuid, fetched.metadata) == (session_id, created.uuid, metadata)

    with pytest.raises(APIError) as info:
        client.memory.add_session(Session(session_id=session_id))
    assert _status(info.value) == 409

    patch = {"prefs": {"theme": "dark", "lang": "fr"}, "n": 2, "new": None}
    updated = client.memory.update_session(Session(session_id=session_id, metadata=patch))
    expected = {"topic": "books", "prefs": {"lang": "fr", "tags": ["sf"], "theme": "dark"}, "n": 2, "new": None}
    assert updated.metadata == expected
    assert updated.uuid == created.uuid
    assert client.memory.get_session(session_id).metadata == expected


async def test_async_session_calls(aclient: ZepClient) -> None:
    session_id = _new_id("asession")
    created = await aclient.memory.aadd_session(Session(session_id=session_id, metadata={"a": {"b": 1}}))
    assert created.session_id == session_id
    updated = await aclient.memory.aupdate_session(Session(session_id=session_id, metadata={"a": {"c": 2}}))
    assert updated.metadata == {"a": {"b": 1, "c": 2}}
    assert (await aclient.memory.aget_session(session_id)).metadata == {"a": {"b": 1, "c": 2}}


def test_add_memory_creates_the_session(client: ZepClient) -> None:
    session_id = _new_id()
    client.memory.add_memory(session_id, _example_memory())
    session = client.memory.get_session(session_id)
    assert session.session_id == session_id
    uuid.UUID(session.uuid)


def test_list_sessions_and_paging(client: ZepClient) -> None:
    prefix = _new_id("page")
    ids = [f"{prefix}-{i}" for i in range(5)]
    for session_id in ids:
        client.memory.add_session(Session(session_id=session_id))

    first = client.memory.list_sessions(limit=2, cursor=0)
    assert isinstance(first, list)
    assert 0 < len(first) <= 2
    assert all(isinstance(s, Session) for s in first)

    chunks = list(client.memory.list_all_sessions(chunk_size=2))
    assert chunks
    assert all(1 <= len(chunk) <= 2 for chunk in chunks)
    assert all(len(chunk) == 2 for chunk in chunks[:-1])
    seen = [s.session_id for chunk in chunks for s in chunk]
    assert len(seen) == len(set(seen)), "pages overlap"
    assert set(ids) <= set(seen)


async def test_list_sessions_async(aclient: ZepClient) -> None:
    session_id = _new_id("alist")
    await aclient.memory.aadd_session(Session(session_id=session_id))
    seen: list[str] = []
    async for chunk in aclient.memory.alist_all_sessions(chunk_size=3):
        assert 1 <= len(chunk) <= 3
        seen.extend(s.session_id for s in chunk)
    assert session_id in seen
    assert len(seen) == len(set(seen))


# ----------------------------------------------------------------------------------------------------- delete


def test_delete_memory(client: ZepClient) -> None:
    session_id = _new_id("delete")
    client.memory.add_memory(session_id, _example_memory())
    client.memory.delete_memory(session_id)
    with pytest.raises(NotFoundError):
        client.memory.get_memory(session_id)
    with pytest.raises(NotFoundError):
        client.memory.get_session(session_id)
    with pytest.raises(NotFoundError):
        client.memory.delete_memory(session_id)

    client.memory.add_memory(session_id, Memory(messages=[_message(role="Jane", content="Starting over")]))
    memory = client.memory.get_memory(session_id)
    assert [m.content for m in _messages(memory)] == ["Starting over"]


async def test_delete_memory_async(aclient: ZepClient) -> None:
    session_id = _new_id("adelete")
    await aclient.memory.aadd_memory(session_id, _example_memory())
    await aclient.memory.adelete_memory(session_id)
    with pytest.raises(NotFoundError):
        await aclient.memory.aget_memory(session_id)


# ------------------------------------------------------------------------------------------------ odd session ids


@pytest.mark.parametrize("odd", ODD_IDS)
def test_odd_session_ids_round_trip(client: ZepClient, odd: str) -> None:
    session_id = f"{odd} {uuid.uuid4().hex[:8]}"
    client.memory.add_memory(session_id, _example_memory())
    memory = client.memory.get_memory(session_id, memory_type="perpetual")
    assert [m.content for m in _messages(memory)] == [m["content"] for m in HISTORY]
    assert client.memory.get_session(session_id).session_id == session_id
    updated = client.memory.update_session(Session(session_id=session_id, metadata={"odd": True}))
    assert (updated.session_id, updated.metadata) == (session_id, {"odd": True})
    client.memory.delete_memory(session_id)
    with pytest.raises(NotFoundError):
        client.memory.get_memory(session_id)


@pytest.mark.parametrize("odd", ODD_IDS)
async def test_odd_session_ids_round_trip_async(aclient: ZepClient, odd: str) -> None:
    session_id = f"{odd} {uuid.uuid4().hex[:8]}"
    await aclient.memory.aadd_memory(session_id, _example_memory())
    memory = await aclient.memory.aget_memory(session_id, memory_type="message_window", lastn=1)
    assert [m.content for m in _messages(memory)] == [HISTORY[2]["content"]]
    assert (await aclient.memory.aget_session(session_id)).session_id == session_id


def test_ids_that_differ_only_in_encoding_stay_distinct(client: ZepClient) -> None:
    base = uuid.uuid4().hex[:8]
    ids = [f"a b {base}", f"a%20b {base}", f"a%2Bb {base}"]
    for i, session_id in enumerate(ids):
        client.memory.add_memory(session_id, Memory(messages=[_message(role="Jane", content=f"message {i}")]))
    for i, session_id in enumerate(ids):
        assert [m.content for m in _messages(client.memory.get_memory(session_id))] == [f"message {i}"]


def test_a_plus_in_a_session_id_reads_as_a_space(client: ZepClient) -> None:
    base = uuid.uuid4().hex[:8]
    client.memory.add_memory(f"a+b {base}", Memory(messages=[_message(role="Jane", content="plus")]))
    assert [m.content for m in _messages(client.memory.get_memory(f"a b {base}"))] == ["plus"]
    assert client.memory.get_session(f"a+b {base}").session_id == f"a b {base}"


@pytest.mark.parametrize("bad", ["slash/inside", "question?mark", "hash#tag"])
def test_ids_that_cannot_travel_in_a_path_are_refused(client: ZepClient, bad: str) -> None:
    with pytest.raises((NotFoundError, APIError)):
        client.memory.add_memory(bad, _example_memory())
    with pytest.raises(APIError):
        client.memory.add_session(Session(session_id=bad))


# ------------------------------------------------------------------------------------------------ perpetual memory


def test_perpetual_memory_shows_a_summary_after_30_messages(client: ZepClient) -> None:
    session_id = _new_id("perpetual")
    turns = [
        _message(role="Jane" if i % 2 == 0 else "Bot", role_type="user" if i % 2 == 0 else "assistant",
                 content=f"Line {i}. More about line {i}.")
        for i in range(30)
    ]  # fmt: skip
    client.memory.add_memory(session_id, Memory(messages=turns, summary_instruction="Keep it short."))
    memory = wait_for_summary(client, session_id)
    summary = memory.summary
    assert summary.content
    assert summary.token_count > 0
    assert [m.content for m in _messages(memory)] == [f"Line {i}. More about line {i}." for i in range(24, 30)]
    window = client.memory.get_memory(session_id, memory_type="message_window", lastn=30)
    assert [m.uuid for m in _messages(window)][23] == summary.recent_message_uuid
    assert window.summary is None, "no summary ends before the oldest of these 30 messages"


async def test_perpetual_memory_async(aclient: ZepClient, client: ZepClient) -> None:
    session_id = _new_id("perpetual-async")
    turns = [_message(role="Jane", role_type="user", content=f"Async line {i}.") for i in range(20)]
    await aclient.memory.aadd_memory(session_id, Memory(messages=turns))
    wait_for_summary(client, session_id)
    memory = await aclient.memory.aget_memory(session_id)  # perpetual by default
    assert memory.summary is not None
    assert [m.content for m in _messages(memory)] == [f"Async line {i}." for i in range(14, 20)]
