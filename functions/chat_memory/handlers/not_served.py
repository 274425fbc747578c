"""Every request no route of the API matches (the HTTP API's `$default` route): 404 with a message that says the
route is not served, so a client can tell "not served by chat-memory" from "nothing found" (an unknown session's
404 names the session). No AWS access, no resolver: nothing to load but this module."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

NOT_SERVED = "route not served by chat-memory"


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method = str(event.get("requestContext", {}).get("http", {}).get("method", ""))
    path = str(event.get("rawPath", ""))
    body = {"message": f"{NOT_SERVED}: {method} {path} (see the API's OpenAPI document for what is served)"}
    return {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        "isBase64Encoded": False,
    }
