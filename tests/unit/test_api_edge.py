"""Parsing at the HTTP edge: path ids, query parameters and request bodies. No AWS."""

import json
import math
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import pytest
from pydantic import TypeAdapter, ValidationError

from chat_memory.api.params import LastNParam, LimitParam, MemoryTypeParam, OffsetParam, decoded_path_id
from chat_memory.api.schemas import AddMemoryRequest, CreateSessionRequest, MessageRequest
from chat_memory.domain import limits
from chat_memory.domain.models import MemoryType, RoleType

ODD_IDS = ["plain", "with space", "100%", "%41 literal", "naïve-ünïcode", "emoji-🦜🧠", "&=;,", "  padded  "]


def path_id(raw: str) -> str:
    return decoded_path_id(raw, "session id")


def _read(param: Any, raw: str | None) -> Any:
    """A query parameter as a route receives it: what its declaration validates the raw string into."""
    return TypeAdapter(param).validate_python(raw)


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
    with pytest.raises(ValueError, match="session id"):
        path_id(_as_api_gateway_delivers(raw))


@pytest.mark.parametrize("raw", [".", "..", "%ff", "%fe", "a%ffb"])
def test_dot_segments_and_invalid_utf8_in_a_path_are_refused(raw: str) -> None:
    """HTTP clients drop `.`/`..` segments; invalid UTF-8 decodes to U+FFFD, so `%ff` and `%fe` would be one id."""
    with pytest.raises(ValueError, match=r"path segments|U\+FFFD"):
        path_id(_as_api_gateway_delivers(raw))


def test_dots_inside_an_id_and_a_space_id_are_fine() -> None:
    assert [path_id(raw) for raw in ("...", ".a", "a..", "+", "+.")] == ["...", ".a", "a..", " ", " ."]


@pytest.mark.parametrize("session_id", ["a/b", "a+b", "what?", "#tag", ".", "..", "bad\ufffd"])
def test_ids_that_cannot_travel_in_a_path_are_refused_at_creation(session_id: str) -> None:
    with pytest.raises(ValidationError, match=r"cannot be used in URL paths|path segments|U\+FFFD"):
        CreateSessionRequest.model_validate({"session_id": session_id})


@pytest.mark.parametrize(("raw", "expected"), [(None, None), ("", None), ("1", 1), ("1000", 1000)])
def test_lastn_accepts_blank_or_a_positive_integer(raw: str | None, expected: int | None) -> None:
    assert _read(LastNParam, raw) == expected


@pytest.mark.parametrize("raw", ["0", "-1", "1.5", "abc", "1001", " 3x"])
def test_lastn_refuses_anything_else(raw: str) -> None:
    with pytest.raises(ValidationError):
        _read(LastNParam, raw)


@pytest.mark.parametrize("raw", ["+5", " 5", "5 ", "5_0", "\u0663", "\uff15", "0x5", "1e2", "1,2"])
@pytest.mark.parametrize("param", [LimitParam, OffsetParam, LastNParam])
def test_integers_are_plain_ascii_digits_where_pydantic_alone_would_take_more(param: Any, raw: str) -> None:
    with pytest.raises(ValidationError, match="plain ASCII digits"):
        _read(param, raw)


@pytest.mark.parametrize(("param", "raw", "expected"), [(OffsetParam, "0", 0), (LimitParam, "0012", 12)])
def test_integer_bounds_come_from_the_declaration(param: Any, raw: str, expected: int) -> None:
    assert _read(param, raw) == expected
    with pytest.raises(ValidationError, match="less than or equal"):
        _read(param, "9" * 18)


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
    assert _read(MemoryTypeParam, raw) == expected


@pytest.mark.parametrize("raw", ["Perpetual", "window", "MemoryType.", "summary"])
def test_memory_type_refuses_unknown_values(raw: str) -> None:
    with pytest.raises(ValidationError, match="perpetual"):
        _read(MemoryTypeParam, raw)


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


def _event(path: str) -> dict[str, Any]:
    http = {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"}
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": http, "requestId": "r", "stage": "$default", "timeEpoch": 0},
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize("segment", ["emoji-🦜🧠", 'quote"d', "naïve", "a b", "(x)", "%41"])
def test_a_route_placeholder_takes_any_segment_api_gateway_delivers(segment: str) -> None:
    """Powertools' own placeholder takes word characters and a few symbols only. Our one private override
    (`_Resolver._compile_regex` in api/http.py) widens it: this fails loudly when Powertools stops calling it."""
    from chat_memory.api.http import build_resolver

    app = build_resolver([])

    @app.get("/x/<item>")
    def echo(item: str) -> dict[str, str]:
        return {"item": item}

    result = app.resolve(_event(f"/x/{segment}"), None)  # type: ignore[arg-type]
    assert result["statusCode"] == 200 and json.loads(result["body"]) == {"item": segment}
