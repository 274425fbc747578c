"""The Idempotency-Key header and the record key it becomes (no DynamoDB needed)."""

import re
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

from chat_memory.adapters.dynamodb.idempotency import IdempotencyRecords
from chat_memory.api.http import JSON
from chat_memory.api.idempotency import idempotency_key, replayed_response, request_data
from chat_memory.domain.errors import InvalidInputError


def _event(method: str, key: Any = None, body: str | None = None, session_id: str = "s") -> Any:
    """An event as an HTTP API delivers it: the path percent-decoded, the route and its parameters named."""
    event: dict[str, Any] = {
        "rawPath": f"/api/v2/sessions/{session_id}/memory",
        "routeKey": f"{method} /api/v2/sessions/{{sessionId}}/memory",
        "pathParameters": {"sessionId": session_id},
        "headers": {} if key is None else {"idempotency-key": key},
        "requestContext": {"http": {"method": method}},
    }
    if body is not None:
        event["body"] = body
    return event


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_take_the_key(method: str) -> None:
    assert idempotency_key(_event(method, "abc-123")) == "abc-123"
    assert idempotency_key(_event(method)) is None
    with pytest.raises(InvalidInputError, match="Idempotency-Key"):
        idempotency_key(_event(method, "two words"))


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_ignore_the_key_even_when_malformed(method: str) -> None:
    assert idempotency_key(_event(method, "two words")) is None


@pytest.mark.parametrize("value", ["", "k" * 256, "naïve", "a\nb", 42, ["k"]])
def test_malformed_keys(value: Any) -> None:
    with pytest.raises(InvalidInputError, match="1 to 255 visible ASCII"):
        idempotency_key(_event("POST", value))


def test_the_scope_names_tenant_method_resource_and_key_and_the_body_is_only_compared() -> None:
    data = request_data(_event("POST", "k", body='{"a":1}'), "t1", "k")
    assert data["scope"] == ["t1", "POST", "/api/v2/sessions/s/memory", "k"]
    same = request_data(_event("POST", "k", body='{"a":1}'), "t1", "k")
    other = request_data(_event("POST", "k", body='{"a":2}'), "t1", "k")
    assert same["body"] == data["body"] != other["body"]
    assert re.fullmatch(r"[0-9a-f]{64}", data["body"])  # a hash: the body itself is never stored


def test_the_record_key_is_a_partition_of_its_own_in_the_tenants_key_space() -> None:
    """Pins what the subclass relies on in Powertools: the hashed key is "{key_prefix}#{hash}" and `_get_key` (its one
    private override) builds the item key."""

    def record_key(tenant: str) -> str | None:
        records = IdempotencyRecords("table", boto3.client("dynamodb", region_name="us-east-1"))
        config = IdempotencyConfig(event_key_jmespath="scope", hash_function="sha256")
        records.configure(config, key_prefix=IdempotencyRecords.key_prefix(tenant))
        return records._get_hashed_idempotency_key(request_data(_event("POST", "k"), tenant, "k"))

    pk = record_key("t1")
    assert pk is not None and re.fullmatch(r"T#t1#IDEMPOTENCY#[0-9a-f]{64}", pk)
    assert IdempotencyRecords("table", boto3.client("dynamodb", region_name="us-east-1"))._get_key(pk) == {
        "PK": {"S": pk},
        "SK": {"S": "IDEMPOTENCY"},
    }
    other_tenant = record_key("t2")
    assert other_tenant is not None and other_tenant.startswith("T#t2#") and other_tenant[5:] != pk[5:]


def test_one_resource_has_one_scope_however_its_path_is_spelled() -> None:
    """`/sessions/a+b/memory` and `/sessions/a%20b/memory` (delivered as `a b`) name the same session."""
    plus, space = (request_data(_event("POST", "k", session_id=sid), "t1", "k") for sid in ("a+b", "a b"))
    assert plus["scope"] == space["scope"]
    other = request_data(_event("POST", "k", session_id="a_b"), "t1", "k")
    assert other["scope"] != plus["scope"]


def test_a_record_of_the_previous_version_is_replayed_as_it_was_answered() -> None:
    """Before the Idempotency-Key layer was a middleware, records held the Lambda result (expiry: a day)."""
    old = {"statusCode": 201, "headers": {"Content-Type": "application/json"}, "body": '{"message":"OK"}'}
    response = replayed_response(old)
    assert (response.status_code, response.body, response.headers["Content-Type"]) == (201, '{"message":"OK"}', JSON)
    new = replayed_response({"status": 200, "headers": {"X": "1"}, "body": {"message": "OK"}})
    assert (new.status_code, new.body, new.headers) == (200, {"message": "OK"}, {"X": "1"})
