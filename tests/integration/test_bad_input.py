"""Bad input gets a 4xx with a JSON message a person can act on, and nothing is stored."""

import base64
import json
from typing import Any

import pytest

from chat_memory.domain import limits
from tests.http_events import FakeContext, http_event
from tests.integration.conftest import Invoke, all_items

MEMORY = "/api/v2/sessions/s1/memory"


def _msg(**fields: Any) -> dict[str, Any]:
    return {"role": "Jane", "role_type": "user", "content": "hi", **fields}


BAD_WRITES: list[tuple[str, str, str, dict[str, Any] | None, str | None, int, str]] = [
    # (case, method, path, body, raw body, status, words the message must contain)
    ("malformed JSON", "POST", MEMORY, None, '{"messages": [', 400, "not valid JSON"),
    ("JSON that is not an object", "POST", MEMORY, None, "[1, 2]", 400, "invalid request"),
    ("messages not a list", "POST", MEMORY, {"messages": {"content": "x"}}, None, 400, "messages"),
    ("content missing", "POST", MEMORY, {"messages": [{"role": "Jane"}]}, None, 400, "content"),
    ("content not a string", "POST", MEMORY, {"messages": [_msg(content=42)]}, None, 400, "content"),
    ("unknown role_type", "POST", MEMORY, {"messages": [_msg(role_type="robot")]}, None, 400, "role_type"),
    ("empty role_type", "POST", MEMORY, {"messages": [_msg(role_type="")]}, None, 400, "role_type"),
    ("invalid uuid", "POST", MEMORY, {"messages": [_msg(uuid="12")]}, None, 400, "uuid"),
    ("metadata not an object", "POST", MEMORY, {"messages": [_msg(metadata=[1])]}, None, 400, "metadata"),
    (
        "oversized content",
        "POST",
        MEMORY,
        {"messages": [_msg(content="x" * (limits.MAX_CONTENT_BYTES + 1))]},
        None,
        400,
        f"limit is {limits.MAX_CONTENT_BYTES}",
    ),
    (
        "oversized metadata",
        "POST",
        MEMORY,
        {"messages": [_msg(metadata={"blob": "x" * limits.MAX_METADATA_BYTES})]},
        None,
        400,
        f"limit is {limits.MAX_METADATA_BYTES}",
    ),
    (
        "a valid message next to an invalid one",
        "POST",
        MEMORY,
        {"messages": [_msg(), _msg(role_type="robot")]},
        None,
        400,
        "messages.1.role_type",
    ),
    (
        "too many messages",
        "POST",
        MEMORY,
        {"messages": [_msg() for _ in range(limits.MAX_MESSAGES_PER_REQUEST + 1)]},
        None,
        413,
        f"at most {limits.MAX_MESSAGES_PER_REQUEST} messages",
    ),
    (
        "too many bytes in one request",
        "POST",
        MEMORY,
        {"messages": [_msg(content="x" * limits.MAX_CONTENT_BYTES) for _ in range(36)]},
        None,
        413,
        "several requests",
    ),
    ("NaN in metadata", "POST", MEMORY, None, '{"messages": [{"content": "x", "metadata": {"n": NaN}}]}', 400,
     "finite"),
    ("NUL in content", "POST", MEMORY, {"messages": [_msg(content="a\x00b")]}, None, 400, "NUL"),
    ("empty request", "POST", MEMORY, {}, None, 400, "at least one message"),
    ("control character in the session id", "POST", "/api/v2/sessions/a\nb/memory", {"messages": [_msg()]}, None, 400,
     "control characters"),
    ("session id too long", "POST", f"/api/v2/sessions/{'x' * 257}/memory", {"messages": [_msg()]}, None, 400,
     "at most 256"),
    ("session without id", "POST", "/api/v2/sessions", {"metadata": {}}, None, 400, "session_id"),
    ("session with an empty id", "POST", "/api/v2/sessions", {"session_id": ""}, None, 400, "session_id"),
    ("patch of an unknown session", "PATCH", "/api/v2/sessions/nobody", {"metadata": {"a": 1}}, None, 404, "not found"),
    ("patch naming another session", "PATCH", "/api/v2/sessions/s1", {"session_id": "s2"}, None, 400, "differs"),
    ("delete of an unknown session", "DELETE", MEMORY, None, None, 404, "not found"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "raw_body", "status", "words"),
    [case[1:] for case in BAD_WRITES],
    ids=[case[0] for case in BAD_WRITES],
)
def test_bad_writes_are_4xx_json_and_store_nothing(
    api: Invoke, ddb: Any, method: str, path: str, body: Any, raw_body: str | None, status: int, words: str
) -> None:
    reply = api(method, path, body, raw_body=raw_body)
    assert reply.status == status, reply.body
    assert isinstance(reply.body["message"], str)
    assert words in reply.body["message"]
    assert all_items(ddb) == []


def test_a_body_that_is_not_utf8_is_a_400(ddb: Any) -> None:
    from chat_memory.handlers import add_memory

    event = http_event("POST", MEMORY)
    event["body"] = base64.b64encode(b'{"messages": [{"content": "\xff\xfe"}]}').decode()
    event["isBase64Encoded"] = True
    result = add_memory.lambda_handler(event, FakeContext())
    assert result["statusCode"] == 400
    assert "UTF-8" in json.loads(result["body"])["message"]
    assert all_items(ddb) == []


BAD_READS = [
    ("lastn zero", MEMORY, "lastn=0", "lastn"),
    ("lastn not a number", MEMORY, "lastn=ten", "lastn"),
    ("lastn too large", MEMORY, f"lastn={limits.MAX_LASTN + 1}", "lastn"),
    ("unknown memoryType", MEMORY, "memoryType=everything", "memoryType"),
    ("negative cursor", "/api/v2/sessions", "cursor=-1", "cursor"),
    ("zero limit", "/api/v2/sessions", "limit=0", "limit"),
]


@pytest.mark.parametrize(("path", "query", "words"), [c[1:] for c in BAD_READS], ids=[c[0] for c in BAD_READS])
def test_bad_reads_are_400_with_a_message(api: Invoke, path: str, query: str, words: str) -> None:
    assert api("POST", MEMORY, {"messages": [_msg()]}).status == 201
    reply = api("GET", path, query=query)
    assert reply.status == 400
    assert words in reply.body["message"]


def test_unknown_routes_are_a_404_json(api: Invoke) -> None:
    reply = api("GET", "/api/v2/nothing-here")
    assert reply.status == 404
    assert "no route" in reply.body["message"]


def test_creating_an_existing_session_is_a_409(api: Invoke) -> None:
    assert api("POST", "/api/v2/sessions", {"session_id": "twice"}).status == 201
    reply = api("POST", "/api/v2/sessions", {"session_id": "twice", "metadata": {"x": 1}})
    assert reply.status == 409
    assert "already exists" in reply.body["message"]
    assert api("GET", "/api/v2/sessions/twice").body["metadata"] == {}


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"])
def test_a_body_that_is_not_json_is_a_415_and_stores_nothing(ddb: Any, content_type: str) -> None:
    from chat_memory.handlers import add_memory

    event = http_event("POST", MEMORY, {"messages": [_msg()]})
    event["headers"]["content-type"] = content_type
    result = add_memory.lambda_handler(event, FakeContext())
    assert result["statusCode"] == 415
    assert "application/json" in json.loads(result["body"])["message"]
    assert all_items(ddb) == []


@pytest.mark.parametrize(
    "content_type", ["application/JSON", "Application/Json; charset=utf-8", "application/vnd.api+json"]
)
def test_every_json_media_type_is_json(ddb: Any, content_type: str) -> None:
    """Not Powertools' own 415 (`{"statusCode": 415, "detail": ...}`): any JSON media type is read as JSON."""
    from chat_memory.handlers import add_memory

    event = http_event("POST", MEMORY, {"messages": [_msg()]})
    event["headers"]["content-type"] = content_type
    assert add_memory.lambda_handler(event, FakeContext())["statusCode"] == 201


def test_every_error_has_one_shape(ddb: Any) -> None:
    """A 401 (no tenant), a 415, a 400 and a bad Idempotency-Key: `{"message": ...}` written the same way."""
    from chat_memory.api.http import json_text
    from chat_memory.handlers import add_memory

    unauthorized = http_event("POST", MEMORY, {"messages": [_msg()]})
    unauthorized["requestContext"]["authorizer"] = {"lambda": {"denied": "no key"}}
    not_json = http_event("POST", MEMORY, {"messages": [_msg()]})
    not_json["headers"]["content-type"] = "text/plain"
    invalid = http_event("POST", MEMORY, {"messages": "not a list"})
    bad_key = http_event("POST", MEMORY, {"messages": [_msg()]})
    bad_key["headers"]["idempotency-key"] = "two words"
    for event, status in ((unauthorized, 401), (not_json, 415), (invalid, 400), (bad_key, 400)):
        result = add_memory.lambda_handler(event, FakeContext())
        body = json.loads(result["body"])
        assert (result["statusCode"], result["headers"]["Content-Type"]) == (status, "application/json")
        assert isinstance(body["message"], str) and "statusCode" not in body
        assert result["body"] == json_text(body)
    assert all_items(ddb) == []


def test_json_with_a_charset_or_no_content_type_is_accepted(ddb: Any) -> None:
    from chat_memory.handlers import add_memory

    for headers in ({"content-type": "application/json; charset=utf-8"}, {}):
        event = http_event("POST", MEMORY, {"messages": [_msg()]})
        event["headers"] = headers
        assert add_memory.lambda_handler(event, FakeContext())["statusCode"] == 201
