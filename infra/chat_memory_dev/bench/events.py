"""The API Gateway events the benchmarks hand the handlers, as the bench tenant's authorizer would pass them."""

from __future__ import annotations

import json
import uuid
from typing import Any, Final

TENANT: Final = "default"


def http_event(method: str, path: str, body: Any = None, query: str = "") -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, authorized for the bench tenant."""
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"content-type": "application/json"},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "authorizer": {"lambda": {"tenant": TENANT}},
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(pair.partition("=")[::2] for pair in query.split("&"))
    if body is not None:
        event["body"] = json.dumps(body)
    return event
