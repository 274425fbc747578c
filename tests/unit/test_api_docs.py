"""The OpenAPI description says what the code does: the domain's objects validate into the documented response
models and send the JSON clients read, documented patterns accept exactly what the edge accepts, and request bodies
that are valid JSON but not text are refused."""

import json
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from chat_memory.api.http import parse_json_body
from chat_memory.api.params import canonical_uuid, decoded_path_id
from chat_memory.api.schemas import (
    BODY_ID_PATTERN,
    PATH_ID_PATTERN,
    UUID_PATTERN,
    MemoryBody,
    MessageBody,
    SessionBody,
    UserBody,
    path_safe_id,
)
from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError
from chat_memory.domain.models import Memory, RoleType, Session, StoredMessage, Summary, User

UUID_1 = "0b7c4c51-7ec4-4f4b-8a55-1a1e2f7d9c01"
UUID_2 = "7f3e7c1a-2b5d-4e8f-9a0b-3c4d5e6f7a8b"
MICROS = 1_700_000_000_123_456


def _message(metadata: dict[str, Any] | None) -> StoredMessage:
    return StoredMessage(
        uuid=UUID_1,
        ts=MICROS,
        role="Jane",
        role_type=RoleType.USER,
        content="hi",
        token_count=4,
        metadata=metadata,
    )


def _strict(model: type[BaseModel], body: Any) -> None:
    # Through JSON, as a client sees it; extra keys are refused by the models (extra="forbid").
    model.model_validate_json(json.dumps(body))


CREATED_AT = "2023-11-14T22:13:20.123456Z"


def _sent(model: type[BaseModel], value: Any) -> Any:
    """What a client reads: the domain object validated into its response model, as JSON."""
    body = json.loads(model.model_validate(value).model_dump_json())
    _strict(model, body)
    return body


@pytest.mark.parametrize("metadata", [None, {"a": {"b": [1, 2.5, None, True]}}])
def test_a_message_is_sent_as_zep_sends_it(metadata: dict[str, Any] | None) -> None:
    expected = {
        "uuid": UUID_1,
        "created_at": CREATED_AT,
        "role": "Jane",
        "role_type": "user",
        "content": "hi",
        "token_count": 4,
    }
    assert _sent(MessageBody, _message(metadata)) == expected | ({"metadata": metadata} if metadata else {})


def test_a_memory_is_sent_with_and_without_a_summary() -> None:
    summary = Summary(
        uuid=UUID_2,
        ts=MICROS + 1,
        content="so far",
        recent_message_uuid=UUID_1,
        recent_message_ts=MICROS,
        token_count=3,
    )
    sent = _sent(MemoryBody, Memory(messages=[_message(None)], summary=summary))
    assert sent["summary"] == {
        "uuid": UUID_2,
        "created_at": "2023-11-14T22:13:20.123457Z",
        "content": "so far",
        "recent_message_uuid": UUID_1,
        "token_count": 3,
    }
    assert _sent(MemoryBody, Memory(messages=[], summary=None)) == {"messages": [], "summary": None}


def test_sessions_and_users_leave_out_what_they_do_not_have() -> None:
    for user_id in (None, "u1"):
        session = Session(session_id="s1", uuid=UUID_1, created_ts=MICROS, updated_ts=MICROS, user_id=user_id)
        assert ("user_id" in _sent(SessionBody, session)) == (user_id is not None)
    bare = User(user_id="u1", uuid=UUID_2, created_ts=MICROS, updated_ts=MICROS)
    assert _sent(UserBody, bare) == {
        "user_id": "u1",
        "uuid": UUID_2,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT,
        "metadata": {},
    }
    full = User(
        user_id="u1",
        uuid=UUID_2,
        created_ts=MICROS,
        updated_ts=MICROS,
        email="j@example.com",
        first_name="Jane",
        last_name="Doe",
        metadata={"plan": "pro"},
    )
    assert _sent(UserBody, full) == _sent(UserBody, bare) | {
        "metadata": {"plan": "pro"},
        "email": "j@example.com",
        "first_name": "Jane",
        "last_name": "Doe",
    }


# -- documented patterns == what the edge accepts ------------------------------------------------------------

# Characters the rules are about, plus ordinary and astral text.
_ID_TEXT = st.text(
    alphabet=st.sampled_from(
        ["a", "Z", "0", " ", "+", "/", "?", "#", "%", ".", "\ufffd", "\x00", "\n", "\x1f", "\x7f", "é", "😀", "-"]
    ),
    max_size=12,
) | st.text(max_size=12)


def _documented(pattern: str, value: str) -> bool:
    """Whether a JSON Schema `pattern` matches: an ECMA-262 regex, whose `$` is the end of the input (Python's `$`
    also matches before a final newline, so it is read as `\\Z` here)."""
    if pattern.endswith("$"):
        pattern = pattern[:-1] + r"\Z"
    return re.search(pattern, value) is not None


def _accepted(check: Any, value: str) -> bool:
    try:
        check(value)
    except (ValueError, InvalidInputError):
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(_ID_TEXT)
@example("0\n")
@example(".")
@example("..")
@example("%ff\ufffd")
def test_body_id_pattern_accepts_exactly_the_ids_the_edge_accepts(value: str) -> None:
    documented = _documented(BODY_ID_PATTERN, value) and len(value) <= limits.MAX_ID_CHARS
    assert documented == _accepted(path_safe_id, value)


@settings(max_examples=300, deadline=None)
@given(_ID_TEXT)
@example("0\n")
@example(".")
@example("..")
@example("+.")
@example("\ufffd")
def test_path_id_pattern_accepts_exactly_the_path_segments_the_edge_accepts(value: str) -> None:
    documented = _documented(PATH_ID_PATTERN, value) and len(value) <= limits.MAX_ID_CHARS
    assert documented == _accepted(lambda raw: decoded_path_id(raw, "session id"), value)


@settings(max_examples=300, deadline=None)
@given(st.uuids().map(str) | st.uuids().map(lambda u: u.hex) | st.uuids().map(lambda u: "{" + str(u) + "}") | st.text())
@example("0b7c4c51-7ec4-4f4b-8a55-1a1e2f7d9c01\n")
def test_message_ids_are_the_documented_uuid_form_only(value: str) -> None:
    documented = _documented(UUID_PATTERN, value)
    assert documented == _accepted(canonical_uuid, value)


# -- request bodies: JSON that is not text, or beyond the parser ---------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"n": 1' + "0" * 5000 + "}", "4300 digits"),
        ('{"content": "\\ud800"}', "lone surrogate"),
        ('{"\\udfff": 1}', "lone surrogate"),
        ('{"a": ', "Expecting value"),
    ],
    ids=["deep nesting", "huge integer", "lone surrogate in a value", "lone surrogate in a key", "truncated"],
)
def test_bodies_that_json_loads_cannot_turn_into_text_are_decode_errors(text: str, reason: str) -> None:
    with pytest.raises(json.JSONDecodeError, match=reason):
        parse_json_body(text)


def test_valid_bodies_parse_unchanged_including_surrogate_pairs_and_big_numbers() -> None:
    text = '{"content": "\\ud83d\\ude00", "n": 1' + "0" * 400 + ', "f": 1e308, "z": -0.0}'
    assert parse_json_body(text) == {"content": "😀", "n": 10**400, "f": 1e308, "z": -0.0}
