"""The OpenAPI description says what the code does: response models fit the shapers' JSON, documented patterns
accept exactly what the edge accepts, and request bodies that are valid JSON but not text are refused."""

import json
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from chat_memory.api.http import message_uuid, parse_json_body, path_id
from chat_memory.api.schemas import (
    BODY_ID_PATTERN,
    PATH_ID_PATTERN,
    UUID_PATTERN,
    MemoryBody,
    MessageBody,
    MessagePageBody,
    SessionBody,
    UserBody,
    memory_json,
    message_json,
    message_page_json,
    path_safe_id,
    session_json,
    user_json,
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


@pytest.mark.parametrize("metadata", [None, {"a": {"b": [1, 2.5, None, True]}}])
def test_message_json_fits_the_documented_message(metadata: dict[str, Any] | None) -> None:
    body = message_json(_message(metadata))
    _strict(MessageBody, body)
    assert ("metadata" in body) == (metadata is not None), "absent metadata is left out, as documented"


def test_memory_json_fits_with_and_without_a_summary() -> None:
    summary = Summary(
        uuid=UUID_2,
        ts=MICROS + 1,
        content="so far",
        recent_message_uuid=UUID_1,
        recent_message_ts=MICROS,
        token_count=3,
    )
    for memory in (Memory(messages=[_message(None)], summary=summary), Memory(messages=[], summary=None)):
        _strict(MemoryBody, memory_json(memory))


def test_page_session_and_user_json_fit_with_optional_fields_left_out_or_set() -> None:
    _strict(MessagePageBody, message_page_json([message_json(_message({"k": 1}))], total_count=7))
    for user_id in (None, "u1"):
        session = Session(session_id="s1", uuid=UUID_1, created_ts=MICROS, updated_ts=MICROS, user_id=user_id)
        _strict(SessionBody, session_json(session))
    bare = User(user_id="u1", uuid=UUID_2, created_ts=MICROS, updated_ts=MICROS)
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
    for user in (bare, full):
        _strict(UserBody, user_json(user))


def test_the_models_would_catch_a_field_the_shapers_add() -> None:
    body = dict(message_json(_message(None)), surprise=1)
    with pytest.raises(ValueError, match="surprise"):
        _strict(MessageBody, body)


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
    assert documented == _accepted(path_id, value)


@settings(max_examples=300, deadline=None)
@given(st.uuids().map(str) | st.uuids().map(lambda u: u.hex) | st.uuids().map(lambda u: "{" + str(u) + "}") | st.text())
@example("0b7c4c51-7ec4-4f4b-8a55-1a1e2f7d9c01\n")
def test_message_ids_are_the_documented_uuid_form_only(value: str) -> None:
    documented = _documented(UUID_PATTERN, value)
    assert documented == _accepted(message_uuid, value)


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
