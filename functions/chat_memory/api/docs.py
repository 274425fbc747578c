"""What each route documents in the OpenAPI description beyond its parameters and body: its answers.

Parameters document themselves (chat_memory.api.params). Routes pass `responses(...)` to their decorator; the
OpenAPI generator (chat_memory_dev) merges every function's document into infra/openapi.json. Errors share one body
shape (ErrorBody) and one description per status, so the document says the same thing wherever the same thing
happens.
"""

from typing import Any

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

from chat_memory.api.http import MEMORY_TOKENS_HEADER, MEMORY_TRUNCATED_HEADER, NEXT_PAGE_HEADER
from chat_memory.api.schemas import ErrorBody

JSON = "application/json"
TEXT = "text/plain"
# API v1's answer to a write that returns nothing else (Zep 0.27's `OKResponse`).
OK_TEXT = "OK"

_ERRORS: dict[int, str] = {
    400: "Bad input: the message says what and where; nothing was stored.",
    401: "No API key, or not a valid one.",
    404: "No such session, message or user for this API key (or no such route).",
    409: "Conflict: it already exists, or a request with this Idempotency-Key is still in progress.",
    413: "The request is larger than the documented limits; nothing was stored.",
    415: "The body is not JSON (send Content-Type: application/json).",
    422: "This Idempotency-Key was used with a different request body.",
    503: "The store (or the language model) is busy or unavailable; nothing was stored. Retry after `Retry-After` "
    "seconds.",
}

_RETRY_AFTER: dict[str, OpenAPIResponseHeader] = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer", "minimum": 0}}
}

# Every authenticated route can answer these.
COMMON_ERRORS = (400, 401, 503)
# ...routes with an id in the path add 404, routes with a JSON body 413 and 415.
PATH_ERRORS = (404,)
BODY_ERRORS = (413, 415)
# ...and writes, which take an Idempotency-Key, 409 (still in progress) and 422 (reused with another body).
IDEMPOTENCY_ERRORS = (409, 422)

BUDGET_DOC: dict[str, OpenAPIResponseHeader] = {
    MEMORY_TOKENS_HEADER: {
        "description": "With `max_tokens`: the token counts of the summary and the messages sent, together.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    MEMORY_TRUNCATED_HEADER: {
        "description": "With `max_tokens`: `true` when the budget left out messages (or the summary) that the "
        "memory would otherwise hold (the newest message alone may be over the budget: then no message).",
        "schema": {"type": "string", "enum": ["true", "false"]},
    },
}
NEXT_PAGE_DOC: dict[str, OpenAPIResponseHeader] = {
    NEXT_PAGE_HEADER: {
        "description": "When more follow (the page is full, or cut short to fit 6 MB): pass it as `page_token` "
        "for the rest. Absent on the last page.",
        "schema": {"type": "string"},
    }
}


def _error(status: int) -> OpenAPIResponse:
    response: OpenAPIResponse = {"description": _ERRORS[status], "content": {JSON: {"model": ErrorBody}}}
    if status == 503:
        response["headers"] = _RETRY_AFTER
    return response


def responses(
    status: int,
    model: Any,
    description: str,
    *errors: int,
    headers: dict[str, OpenAPIResponseHeader] | None = None,
    links: dict[str, Any] | None = None,
) -> dict[int, OpenAPIResponse]:
    """The success answer (`model`: a pydantic model or a list of one) and the error statuses a route can give.

    `links` (OpenAPI links: what can be done next with what this answer holds) let a stateful client, or
    schemathesis, follow a created thing to the operations that read, change and delete it."""
    return _with_errors(
        status, {"description": description, "content": {JSON: {"model": model}}}, errors, headers, links
    )


def ok_text_responses(
    description: str, *errors: int, links: dict[str, Any] | None = None
) -> dict[int, OpenAPIResponse]:
    """API v1 (Zep 0.27): a write answered 200 with the bare text `OK` (not JSON), and the errors it can give."""
    success: OpenAPIResponse = {
        "description": description,
        "content": {TEXT: {"schema": {"type": "string", "enum": [OK_TEXT]}}},
    }
    return _with_errors(200, success, errors, None, links)


def _with_errors(
    status: int,
    success: OpenAPIResponse,
    errors: tuple[int, ...],
    headers: dict[str, OpenAPIResponseHeader] | None,
    links: dict[str, Any] | None,
) -> dict[int, OpenAPIResponse]:
    if headers:
        success["headers"] = headers
    if links:
        success["links"] = links
    documented = {status: success}
    for code in sorted({*COMMON_ERRORS, *errors}):
        documented[code] = _error(code)
    return documented


def link(operation_id: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link to `operation_id`, its parameters given as runtime expressions."""
    return {"operationId": operation_id, "parameters": parameters}


_SESSION_OPERATIONS = {
    "GetSession": "get_session",
    "GetMemory": "get_memory",
    "ListMessages": "get_session_messages",
    "UpdateSession": "update_session",
    "AddMemory": "add_memory",
    "DeleteMemory": "delete_memory",
    "SynthesizeQuestion": "synthesize_question",
    "ClassifySession": "classify_session",
}
_USER_OPERATIONS = {
    "GetUser": "get_user",
    "GetUserSessions": "get_user_sessions",
    "UpdateUser": "update_user",
    "DeleteUser": "delete_user",
}


def session_links(session_id: str) -> dict[str, Any]:
    """What can follow an answer naming a session (`session_id`: where the answer holds its id)."""
    return {name: link(operation, session_id=session_id) for name, operation in _SESSION_OPERATIONS.items()}


def user_links(user_id: str) -> dict[str, Any]:
    """What can follow an answer naming a user."""
    return {name: link(operation, user_id=user_id) for name, operation in _USER_OPERATIONS.items()}


def message_links() -> dict[str, Any]:
    """What can follow add_memory's answer: its first message, read and changed by uuid."""
    first = {"session_id": "$request.path.session_id", "message_id": "$response.body#/messages/0/uuid"}
    return {
        "GetFirstMessage": link("get_session_message", **first),
        "UpdateFirstMessageMetadata": link("update_message_metadata", **first),
        **session_links("$request.path.session_id"),
    }
