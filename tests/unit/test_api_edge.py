"""Parsing at the HTTP edge: path ids, query parameters and request bodies. No AWS."""

import math
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import pytest
from pydantic import ValidationError

from chat_memory.api.http import lastn_param, memory_type_param, path_id
from chat_memory.api.schemas import AddMemoryRequest, CreateSessionRequest, MessageRequest
from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError
from chat_memory.domain.models import MemoryType, RoleType

ODD_IDS = ["plain", "with space", "100%", "%41 literal", "naïve-ünïcode", "emoji-🦜🧠", "&=;,", "  padded  "]


def _as_api_gateway_delivers(segment: str) -> str:
    """HTTP APIs percent-decode the path before it reaches the function."""
    return unquote(segment)


@pytest.mark.parametrize("session_id", ODD_IDS)
def test_every_id_the_client_encodes_round_trips(session_id: str) -> None:
    assert path_id(_as_api_gateway_delivers(quote_plus(session_id))) == session_id  # most client calls
    assert path_id(_as_api_gateway_delivers(quote(session_id, safe=""))) == session_id  # update_session


def test_a_plus_in_the_path_is_a_space() -> None:
    assert path_id("a+b") == "a b"


@pytest.mark.parametrize("raw", ["", "%00", "a%0Ab", "x" * (limits.MAX_ID_CHARS + 1), "a?b", "a#b"])
def test_empty_or_invalid_ids_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInputError):
        path_id(_as_api_gateway_delivers(raw))


@pytest.mark.parametrize("raw", [".", "..", "%ff", "%fe", "a%ffb"])
def test_dot_segments_and_invalid_utf8_in_a_path_are_refused(raw: str) -> None:
    """HTTP clients drop `.`/`..` segments; invalid UTF-8 decodes to U+FFFD, so `%ff` and `%fe` would be one id."""
    with pytest.raises(InvalidInputError, match=r"path segments|U\+FFFD"):
        path_id(_as_api_gateway_delivers(raw))


def test_dots_inside_an_id_and_a_space_id_are_fine() -> None:
    assert [path_id(raw) for raw in ("...", ".a", "a..", "+", "+.")] == ["...", ".a", "a..", " ", " ."]


@pytest.mark.parametrize("session_id", ["a/b", "a+b", "what?", "#tag", ".", "..", "bad\ufffd"])
def test_ids_that_cannot_travel_in_a_path_are_refused_at_creation(session_id: str) -> None:
    with pytest.raises(ValidationError, match=r"cannot be used in URL paths|path segments|U\+FFFD"):
        CreateSessionRequest.model_validate({"session_id": session_id})


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("1", 1), ("1000", 1000)])
def test_lastn_accepts_blank_or_a_positive_integer(raw: str | None, expected: int | None) -> None:
    assert lastn_param(raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "abc", "1001", " 3x"])
def test_lastn_refuses_anything_else(raw: str) -> None:
    with pytest.raises(InvalidInputError, match="lastn"):
        lastn_param(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, MemoryType.PERPETUAL),
        ("", MemoryType.PERPETUAL),
        ("perpetual", MemoryType.PERPETUAL),
        ("MemoryType.perpetual", MemoryType.PERPETUAL),
        ("message_window", MemoryType.MESSAGE_WINDOW),
        ("MemoryType.summary_retriever", MemoryType.SUMMARY_RETRIEVER),
    ],
)
def test_memory_type_accepts_values_and_enum_names(raw: str | None, expected: MemoryType) -> None:
    assert memory_type_param(raw) == expected


@pytest.mark.parametrize("raw", ["Perpetual", "window", "MemoryType.", "summary"])
def test_memory_type_refuses_unknown_values(raw: str) -> None:
    with pytest.raises(InvalidInputError, match="memoryType"):
        memory_type_param(raw)


def test_a_message_without_role_type_is_norole_and_its_uuid_is_normalised() -> None:
    message = MessageRequest.model_validate(
        {"role": "Jane", "content": "hi", "uuid": "7291333F-2E01-4B06-9FE0-3EFC59B3399C", "token_count": 5}
    ).to_domain()
    assert message.role_type is RoleType.NOROLE
    assert message.uuid == "7291333f-2e01-4b06-9fe0-3efc59b3399c"


@pytest.mark.parametrize(
    "bad",
    [
        {"role": "r"},  # no content
        {"content": 5},
        {"content": "x", "role_type": "bot"},
        {"content": "x", "role_type": ""},
        {"content": "x", "uuid": "not-a-uuid"},
        {"content": "x" * (limits.MAX_CONTENT_BYTES + 1)},
        {"content": "é" * (limits.MAX_CONTENT_BYTES // 2 + 1)},  # the limit is in UTF-8 bytes
        {"content": "nul\x00byte"},
        {"content": "x", "role": "r" * (limits.MAX_ROLE_CHARS + 1)},
        {"content": "x", "metadata": "not an object"},
        {"content": "x", "metadata": {"k": "v" * limits.MAX_METADATA_BYTES}},
        {"content": "x", "metadata": {"n": math.nan}},
        {"content": "x", "metadata": {"n": [math.inf]}},
    ],
)
def test_bad_messages_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        MessageRequest.model_validate(bad)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"k": value}
    return value


def test_metadata_nesting_is_limited() -> None:
    MessageRequest.model_validate({"content": "x", "metadata": _nested(limits.MAX_METADATA_DEPTH)})
    with pytest.raises(ValidationError, match="nested deeper"):
        MessageRequest.model_validate({"content": "x", "metadata": _nested(limits.MAX_METADATA_DEPTH + 1)})


def test_huge_integers_in_metadata_are_kept_exactly() -> None:
    big = 10**40
    message = MessageRequest.model_validate({"content": "x", "metadata": {"big": big}})
    assert message.metadata == {"big": big}


def test_memory_and_session_requests() -> None:
    memory = AddMemoryRequest.model_validate({"messages": [{"content": "a"}], "summary_instruction": "be brief"})
    assert len(memory.messages) == 1
    with pytest.raises(ValidationError):
        AddMemoryRequest.model_validate({"messages": {"content": "a"}})
    with pytest.raises(ValidationError):
        CreateSessionRequest.model_validate({"metadata": {}})
    with pytest.raises(ValidationError):
        CreateSessionRequest.model_validate({"session_id": ""})
