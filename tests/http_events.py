"""API Gateway HTTP API (payload 2.0) events and a Lambda context, as the functions receive them: for tests at every
layer (no AWS)."""

import json
import uuid
from dataclasses import dataclass
from typing import Any


class FakeContext:
    function_name = "chat-memory-test"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:chat-memory-test"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def http_event(
    method: str,
    raw_path: str,
    body: Any = None,
    query: str = "",
    raw_body: str | None = None,
    tenant: str | None = "default",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A minimal API Gateway HTTP API (payload 2.0) event, authorized for `tenant` (None: no authorizer context);
    `headers` are added with lower-cased names, as HTTP APIs deliver them."""
    params: dict[str, str] = {}
    for pair in filter(None, query.split("&")):
        key, _, value = pair.partition("=")
        params[key] = value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json", **{k.lower(): v for k, v in (headers or {}).items()}},
        "requestContext": {
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }
    if params:
        event["queryStringParameters"] = params
    if tenant is not None:
        event["requestContext"]["authorizer"] = {"lambda": {"tenant": tenant, "key_id": "0123456789abcdef"}}
    if raw_body is not None:
        event["body"] = raw_body
    elif body is not None:
        event["body"] = json.dumps(body)
    return event


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any


def route_handler(method: str, raw_path: str) -> Any:
    """The function API Gateway would route this request to (template.yaml's routes, in short)."""
    from chat_memory.handlers import add_memory, reads, writes

    if method == "POST" and raw_path.endswith("/memory"):
        return add_memory.lambda_handler
    if method == "GET" or (method == "POST" and raw_path.endswith("/search")):
        return reads.lambda_handler
    return writes.lambda_handler
