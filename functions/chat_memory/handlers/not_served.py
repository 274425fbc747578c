"""Every request no route of the API matches (the HTTP API's `$default` route): 404 with a message that says the
route is not served, so a client can tell "not served by chat-memory" from "nothing found" (an unknown session's
404 names the session). Zep's document store (`/api/v1/collection...`, `/api/v2/collections...`: collections,
documents, their search) is not served either: a 501 that says so. No AWS access, no resolver: nothing to load but
this module."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

NOT_SERVED = "route not served by chat-memory"
DOCUMENT_STORE_NOT_SERVED = "the document store (collections and documents) is not served by chat-memory"
# zep-python 1.x's `document` client (and LangChain's ZepVectorStore) under /api/v1/collection, rc6's under
# /api/v2/collections.
_DOCUMENT_STORE = re.compile(r"^/api/v(?:1/collection|2/collections)(?:/|$)")


def _answer(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps({"message": message}, separators=(",", ":"), ensure_ascii=False),
        "isBase64Encoded": False,
    }


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    method = str(event.get("requestContext", {}).get("http", {}).get("method", ""))
    path = str(event.get("rawPath", ""))
    if _DOCUMENT_STORE.match(path):
        return _answer(501, f"{DOCUMENT_STORE_NOT_SERVED}: {method} {path} (only sessions, memory and users are)")
    return _answer(404, f"{NOT_SERVED}: {method} {path} (see the API's OpenAPI document for what is served)")
