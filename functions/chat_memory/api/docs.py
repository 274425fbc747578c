"""What each route documents in the OpenAPI description beyond its parameters and body: its answers.

Routes pass `responses(...)` to their decorator; `chat_memory_dev.openapi` merges every function's document into
infra/openapi.json. Errors share one body shape (ErrorBody) and one description per status, so the document says
the same thing wherever the same thing happens.
"""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

from chat_memory.api.http import NEXT_PAGE_HEADER
from chat_memory.api.schemas import PATH_ID_PATTERN, UUID_PATTERN, ErrorBody
from chat_memory.domain import limits
from chat_memory.domain.models import MemoryType

# Parameters: documented, not validated by Powertools (`json_schema_extra` only describes). The handlers check
# them (chat_memory.api.http) so that errors read the same as the rest and `?limit=` (Zep's "absent") passes.
_DIGITS = {"pattern": "^[0-9]*$"}
_MEMORY_TYPES = ["", *(t.value for t in MemoryType), *(f"MemoryType.{t.value}" for t in MemoryType)]

SessionIdParam = Annotated[
    str,
    Path(
        description="The session id (`+` reads as a space, as zep-python encodes it).",
        json_schema_extra={"pattern": PATH_ID_PATTERN, "minLength": 1, "maxLength": limits.MAX_ID_CHARS},
    ),
]
UserIdParam = Annotated[
    str,
    Path(
        description="The user id (`+` reads as a space).",
        json_schema_extra={"pattern": PATH_ID_PATTERN, "minLength": 1, "maxLength": limits.MAX_ID_CHARS},
    ),
]
MessageIdParam = Annotated[
    str, Path(description="The message's uuid.", json_schema_extra={"pattern": UUID_PATTERN, "format": "uuid"})
]
LimitParam = Annotated[
    str | None,
    Query(description=f"Page size, 1 to {limits.MAX_LIST_LIMIT} (empty: the default).", json_schema_extra=_DIGITS),
]
OffsetParam = Annotated[
    str | None, Query(description="Zep's cursor: how many to skip (empty: 0).", json_schema_extra=_DIGITS)
]
PageParam = Annotated[str | None, Query(description="Page number, from 1 (empty: 1).", json_schema_extra=_DIGITS)]
LastNParam = Annotated[
    str | None,
    Query(
        description=f"How many recent messages, 1 to {limits.MAX_LASTN} (empty: the session window).",
        json_schema_extra=_DIGITS,
    ),
]
MemoryTypeParam = Annotated[
    str | None,
    Query(
        alias="memoryType",
        description="Which memory (empty: perpetual). zep-python may send `MemoryType.<name>`.",
        json_schema_extra={
            "enum": ["", *(t.value for t in MemoryType), *(f"MemoryType.{t.value}" for t in MemoryType)]
        },
    ),
]
PageTokenParam = Annotated[
    str | None,
    Query(description="Where the page starts: X-Next-Page-Token of the previous page (empty: the first page)."),
]

JSON = "application/json"

_ERRORS: dict[int, str] = {
    400: "Bad input: the message says what and where; nothing was stored.",
    401: "No API key, or not a valid one.",
    404: "No such session, message or user for this API key (or no such route).",
    409: "Conflict: it already exists, or a request with this Idempotency-Key is still in progress.",
    413: "The request is larger than the documented limits; nothing was stored.",
    415: "The body is not JSON (send Content-Type: application/json).",
    422: "This Idempotency-Key was used with a different request body.",
    503: "The store is busy or unavailable; nothing was stored. Retry after `Retry-After` seconds.",
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
    success: OpenAPIResponse = {"description": description, "content": {JSON: {"model": model}}}
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
