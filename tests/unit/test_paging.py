"""Answers that fit Lambda's response payload, and page tokens that cannot be read into or forged (no AWS)."""

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from chat_memory.api.paging import TokenScope, fitted_memory, newest_fitting, response_bytes, take_fitting
from chat_memory.api.schemas import MessageBody
from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError
from chat_memory.domain.models import Memory, Position, RoleType, StoredMessage
from chat_memory.settings import get_page_token_key

# What Lambda measures: the handler's result as its Python runtime serializes it (json.dumps' defaults).
LAMBDA_RESPONSE_BYTES = 6_291_556


def _lambda_payload_bytes(body: Any) -> int:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    result = {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": text}
    return len(json.dumps(result).encode())


def _message(ts: int, content: str) -> StoredMessage:
    return StoredMessage(uuid=f"u{ts}", ts=ts, role="r", role_type=RoleType.USER, content=content, token_count=1)


@pytest.mark.parametrize("text", ["plain", 'quote " and \\ backslash', "é ü 中文", "emoji 🙂", "\x01\x1f\n\t"])
def test_response_bytes_is_what_the_value_adds_to_the_lambda_payload(text: str) -> None:
    value = {"content": text * 100}
    envelope = _lambda_payload_bytes(0) - response_bytes(0)
    assert _lambda_payload_bytes(value) == envelope + response_bytes(value), "the rest of the payload is a constant"


@pytest.mark.parametrize("char", ["x", "\x01", "中", "🙂"])
def test_a_memory_keeps_its_newest_messages_that_fit_one_lambda_response(char: str) -> None:
    # 100 KB of content each, escaped up to six times over by the runtime: far more than one answer holds.
    content = char * (limits.MAX_CONTENT_BYTES // len(char.encode()))
    messages = [_message(ts, content) for ts in range(1, 121)]
    body = json.loads(fitted_memory(Memory(messages=messages, summary=None)).model_dump_json())
    kept = body["messages"]
    assert 0 < len(kept) < len(messages)
    assert kept[-1]["uuid"] == "u120" and [m["uuid"] for m in kept] == [f"u{ts}" for ts in range(121 - len(kept), 121)]
    assert _lambda_payload_bytes(body) <= LAMBDA_RESPONSE_BYTES
    older = MessageBody.model_validate(messages[-len(kept) - 1]).model_dump(mode="json")
    one_more = {"messages": [older, *kept], "summary": None}
    assert response_bytes(one_more) > limits.MAX_RESPONSE_BYTES, "no room was left unused"


def test_take_fitting_stops_at_the_limit_or_the_budget_and_says_what_came_last() -> None:
    taken = take_fitting(iter(range(10)), lambda n: n, limit=3)
    assert taken.items == [0, 1, 2] and taken.last == 2
    assert take_fitting(iter(range(3)), lambda n: n, limit=3).last is None, "nothing follows: no next page"
    # "a"*10 is 12 bytes of JSON, 14 escaped into the payload, 15 with its comma: two fit 2 + 30 bytes.
    by_bytes = take_fitting(iter(["a" * 10] * 5), lambda s: s, limit=None, budget=32)
    assert by_bytes.items == ["a" * 10, "a" * 10] and by_bytes.last == "a" * 10
    assert take_fitting(iter(["a" * 100]), lambda s: s, limit=None, budget=32).items == ["a" * 100], "never empty"
    three = ["old" * 10, "mid" * 10, "new" * 10]  # 35 bytes each with its comma
    assert newest_fitting(three, lambda s: s, budget=72) == ["mid" * 10, "new" * 10]


def test_take_fitting_reads_one_item_past_a_full_page_and_no_more() -> None:
    read: list[int] = []

    def items() -> Any:
        for n in range(100):
            read.append(n)
            yield n

    take_fitting(items(), lambda n: n, limit=5)
    assert read == [0, 1, 2, 3, 4, 5]


SCOPE = TokenScope("acme", "get_session_messages", "s1")


@pytest.mark.parametrize("position", [Position(0), Position(1_733_000_000_000_000, "s1"), Position(5, "中 🙂 \"'")])
def test_a_token_gives_back_its_position_and_shows_no_tenant(position: Position) -> None:
    token = SCOPE.token(position)
    assert SCOPE.position(token) == position
    assert "acme" not in base64.urlsafe_b64decode(token + "==").decode(errors="replace")
    assert token.isascii() and all(c.isalnum() or c in "-_" for c in token), "safe in a query string"


@pytest.mark.parametrize(
    "other",
    [
        TokenScope("other-tenant", "get_session_messages", "s1"),
        TokenScope("acme", "list_sessions", "s1"),
        TokenScope("acme", "get_session_messages", "s2"),
    ],
)
def test_a_token_is_refused_by_another_tenant_listing_or_resource(other: TokenScope) -> None:
    with pytest.raises(InvalidInputError, match="page_token"):
        other.position(SCOPE.token(Position(7, "x")))


def _flipped(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    raw[index] ^= 1
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


@pytest.mark.parametrize("index", [0, 15, 16, -1])
def test_an_altered_token_is_refused(index: int) -> None:
    with pytest.raises(InvalidInputError, match="page_token"):
        SCOPE.position(_flipped(SCOPE.token(Position(1_733_000_000_000_000, "s1")), index))


@pytest.mark.parametrize(
    "token", ["", "garbage", "é", "%%%", "a" * 5000, "eyJHU0kxUEsiOnsiUyI6IlQjb3RoZXIjU0VTU0lPTlMifX0"]
)
def test_strings_that_are_not_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidInputError, match="page_token"):
        SCOPE.position(token)


def _signed(payload: bytes) -> str:
    """A token with a valid MAC over any payload: what a leaked key, or another version of the API, could give."""
    scope = json.dumps([SCOPE.tenant, SCOPE.listing, SCOPE.resource], ensure_ascii=False).encode()
    mac = hmac.new(get_page_token_key(), scope + b"\n" + payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac + payload).decode().rstrip("=")


@pytest.mark.parametrize(
    "payload",
    [b"[]", b"7", b"[1]", b'["1","x"]', b'[-1,"x"]', b'[1e3,"x"]', b'[10000000000000000,"x"]', b"[1,2]", b"\xff"],
)
def test_an_authentic_token_with_a_malformed_position_is_still_a_400(payload: bytes) -> None:
    with pytest.raises(InvalidInputError, match="page_token"):
        SCOPE.position(_signed(payload))
