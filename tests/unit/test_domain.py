"""Domain rules that need no AWS: merge, time format, keys, limits enforced by the use case."""

from collections.abc import Sequence
from typing import Any

import pytest

from chat_memory.adapters.dynamodb import keys
from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError, NotFoundError, PayloadTooLargeError
from chat_memory.domain.models import (
    AddedMessage,
    CountedMessage,
    JsonObject,
    MemoryType,
    NewMessage,
    RoleType,
    Session,
    StoredMessage,
    Summary,
    Window,
    deep_merge,
    rfc3339_from_micros,
)
from chat_memory.service.memory import AddMemory, DeleteMemory, GetMemory, token_text


def test_deep_merge_merges_nested_objects_replaces_values_and_keeps_keys() -> None:
    base = {"a": {"b": 1, "c": {"d": 2}}, "e": [1, 2], "f": "x"}
    patch = {"a": {"c": {"g": 3}, "b": None}, "e": [3], "h": True}
    assert deep_merge(base, patch) == {"a": {"b": None, "c": {"d": 2, "g": 3}}, "e": [3], "f": "x", "h": True}
    assert base["a"] == {"b": 1, "c": {"d": 2}}, "the inputs are left untouched"


def test_deep_merge_replaces_an_object_with_a_scalar_and_back() -> None:
    assert deep_merge({"a": {"b": 1}}, {"a": 5}) == {"a": 5}
    assert deep_merge({"a": 5}, {"a": {"b": 1}}) == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("micros", "expected"),
    [
        (0, "1970-01-01T00:00:00.000000Z"),
        (1_684_274_351_057_919, "2023-05-16T21:59:11.057919Z"),
        (1_684_274_351_000_001, "2023-05-16T21:59:11.000001Z"),
    ],
)
def test_created_at_is_rfc3339_utc_with_microseconds(micros: int, expected: str) -> None:
    assert rfc3339_from_micros(micros) == expected


def test_message_keys_sort_by_time_and_before_the_session_item() -> None:
    stamps = [1, 999_999, 1_684_274_351_057_919, 9_999_999_999_999_999]
    sort_keys = [keys.message_sk(t) for t in stamps]
    assert sort_keys == sorted(sort_keys)
    assert all(sk < keys.SESSION_SK for sk in sort_keys)
    assert [keys.ts_from_message_sk(sk) for sk in sort_keys] == stamps


def test_every_partition_key_starts_with_the_tenant() -> None:
    assert keys.session_pk("acme", "s 1") == "T#acme#S#s 1"
    assert keys.sessions_gsi_pk("acme") == "T#acme#SESSIONS"
    assert keys.user_pk("acme", "u#1") == "T#acme#U#u#1"
    assert keys.parse_user_pk(keys.user_pk("acme", "u#1")) == ("acme", "u#1")
    assert keys.parse_session_pk(keys.session_pk("acme", "s#1")) == ("acme", "s#1")
    assert keys.parse_user_pk(keys.session_pk("acme", "s")) is None


def test_token_text_is_zeps_formula() -> None:
    message = NewMessage(role="Jane", role_type=RoleType.USER, content="hi")
    assert token_text(message) == "user: hi"


class FakeStore:
    """A MemoryStore that records what reaches it."""

    def __init__(self, window: Window | None = None) -> None:
        self.appended: list[Sequence[CountedMessage]] = []
        self.window = window
        self.window_limits: list[int] = []

    def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: Sequence[CountedMessage],
        metadata_patch: JsonObject | None,
        summary_instruction: str | None,
        *,
        retention_days: int = 0,
    ) -> list[AddedMessage]:
        self.appended.append(messages)
        return [AddedMessage(f"u{i}", i, m.token_count, updated=False) for i, m in enumerate(messages)]

    def read_window(self, tenant: str, session_id: str, limit: int, token_budget: int | None = None) -> Window | None:
        self.window_limits.append(limit)
        return self.window

    def delete_session(self, tenant: str, session_id: str) -> bool:
        return False

    def summary_history(self, tenant: str, session_id: str) -> list[Summary]:
        return []

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected store call {name}")


class LengthCounter:
    def count(self, text: str) -> int:
        return len(text)


def _message(content: str = "hello", uuid: str | None = None) -> NewMessage:
    return NewMessage(role="r", role_type=RoleType.USER, content=content, uuid=uuid)


def test_add_memory_counts_tokens_and_passes_messages_in_order() -> None:
    store = FakeStore()
    AddMemory(store, LengthCounter())("default", "s", [_message("a"), _message("bcd")])
    (sent,) = store.appended
    assert [(c.message.content, c.token_count) for c in sent] == [("a", len("user: a")), ("bcd", len("user: bcd"))]


def test_add_memory_refuses_too_many_messages_before_any_write() -> None:
    store = FakeStore()
    too_many = [_message() for _ in range(limits.MAX_MESSAGES_PER_REQUEST + 1)]
    with pytest.raises(PayloadTooLargeError, match=f"at most {limits.MAX_MESSAGES_PER_REQUEST}"):
        AddMemory(store, LengthCounter())("default", "s", too_many)
    assert store.appended == []


def test_add_memory_refuses_a_request_over_the_byte_limit_before_any_write() -> None:
    store = FakeStore()
    count = limits.MAX_REQUEST_MESSAGE_BYTES // limits.MAX_CONTENT_BYTES + 1
    big = [_message("x" * limits.MAX_CONTENT_BYTES) for _ in range(count)]
    with pytest.raises(PayloadTooLargeError):
        AddMemory(store, LengthCounter())("default", "s", big)
    assert store.appended == []


def test_add_memory_refuses_an_empty_request_and_duplicate_uuids() -> None:
    store = FakeStore()
    add = AddMemory(store, LengthCounter())
    with pytest.raises(InvalidInputError):
        add("default", "s", [])
    with pytest.raises(InvalidInputError, match="same uuid"):
        add("default", "s", [_message(uuid="u"), _message(uuid="u")])
    assert store.appended == []


def _stored(i: int, size: int = 10) -> StoredMessage:
    return StoredMessage(uuid=f"u{i}", ts=i, role="r", role_type=RoleType.USER, content="x" * size, token_count=1)


def _session() -> Session:
    return Session(session_id="s", uuid="u", created_ts=0, updated_ts=0)


@pytest.mark.parametrize("memory_type", list(MemoryType))
def test_get_memory_uses_lastn_or_the_window_and_has_no_summary_yet(memory_type: MemoryType) -> None:
    store = FakeStore(Window(_session(), [_stored(1), _stored(2)]))
    get = GetMemory(store, default_window=12)
    memory = get("default", "s", memory_type, None)
    assert [m.uuid for m in memory.messages] == ["u1", "u2"] and memory.summary is None
    get("default", "s", memory_type, 3)
    assert store.window_limits == [12, 3]


def test_get_memory_of_an_unknown_session_is_not_found() -> None:
    with pytest.raises(NotFoundError):
        GetMemory(FakeStore(None), default_window=12)("default", "s", MemoryType.PERPETUAL, None)
    with pytest.raises(NotFoundError):
        DeleteMemory(FakeStore(None))("default", "s")
