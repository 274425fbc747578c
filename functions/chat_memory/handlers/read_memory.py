"""Read-only function: sessions, memory windows, messages and users. Never loads the tokenizer, has no write
permission."""

from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.api.docs import (
    NEXT_PAGE_DOC,
    PATH_ERRORS,
    LastNParam,
    LimitParam,
    MemoryTypeParam,
    MessageIdParam,
    OffsetParam,
    PageParam,
    PageTokenParam,
    SessionIdParam,
    UserIdParam,
    responses,
)
from chat_memory.api.http import (
    NEXT_PAGE_HEADER,
    build_resolver,
    current_tenant,
    int_param,
    json_response,
    lastn_param,
    memory_type_param,
    message_uuid,
    path_id,
    resolve,
)
from chat_memory.api.paging import Fitted, TokenScope, take_fitting
from chat_memory.api.schemas import (
    MemoryBody,
    MessageBody,
    MessagePageBody,
    SessionBody,
    UserBody,
    memory_json,
    message_json,
    message_page_json,
    session_json,
    user_json,
)
from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError
from chat_memory.domain.models import Position, Session, Start, StoredMessage, User
from chat_memory.observability import logger, metrics, tracer

app = build_resolver()
T = TypeVar("T")


def _page_size(limit: str | None) -> int:
    return int_param("limit", limit, minimum=1, maximum=limits.MAX_LIST_LIMIT) or limits.DEFAULT_LIST_LIMIT


def _offset(cursor: str | None) -> int:
    return int_param("cursor", cursor, minimum=0, maximum=10**9) or 0


def _start(scope: TokenScope, page_size: int, offset: int, page_token: str | None) -> Start:
    """Where a page starts: after the page token's position, or past Zep's offset; one item read past the page."""
    if page_token and offset:
        raise InvalidInputError("send either cursor or page_token, not both")
    after = scope.position(page_token) if page_token else None
    return Start(read_ahead=page_size + 1, after=after, offset=offset)


def _session_position(session: Session) -> Position:
    return Position(session.created_ts, session.session_id)


def _user_position(user: User) -> Position:
    return Position(user.created_ts, user.user_id)


def _message_position(message: StoredMessage) -> Position:
    return Position(message.ts)


def _listed(found: Fitted[T], scope: TokenScope, position: Callable[[T], Position], body: Any = None) -> Response[str]:
    """An answer of what fitted, with the token of the rest when more follow."""
    headers = None if found.last is None else {NEXT_PAGE_HEADER: scope.token(position(found.last))}
    return json_response(200, found.items if body is None else body, headers=headers)


@app.get(
    "/api/v2/sessions",
    operation_id="list_sessions",
    summary="List sessions",
    tags=["sessions"],
    responses=responses(
        200, list[SessionBody], "Sessions, oldest first; an empty array past the end.", headers=NEXT_PAGE_DOC
    ),
)
@tracer.capture_method(capture_response=False)
def list_sessions(
    limit: LimitParam = None,
    cursor: OffsetParam = None,
    page_token: PageTokenParam = None,
) -> Response[str]:
    """`cursor` is Zep's offset. `page_token` (from the previous page's X-Next-Page-Token) pages in O(page)."""
    scope = TokenScope(current_tenant(), "list_sessions")
    page_size = _page_size(limit)
    found = wiring.sessions().list(scope.tenant, _start(scope, page_size, _offset(cursor), page_token))
    return _listed(take_fitting(found, session_json, limit=page_size), scope, _session_position)


@app.get(
    "/api/v2/sessions/<session_id>",
    operation_id="get_session",
    summary="Get a session",
    tags=["sessions"],
    responses=responses(200, SessionBody, "The session.", *PATH_ERRORS),
)
@tracer.capture_method(capture_response=False)
def get_session(session_id: SessionIdParam) -> Response[str]:
    session = wiring.sessions().get(current_tenant(), path_id(session_id))
    return json_response(200, session_json(session))


@app.get(
    "/api/v2/sessions/<session_id>/memory",
    operation_id="get_memory",
    summary="Get a session's memory",
    tags=["memory"],
    responses=responses(200, MemoryBody, "The summary (or null) and the newest messages.", *PATH_ERRORS),
)
@tracer.capture_method(capture_response=False)
def get_memory(
    session_id: SessionIdParam,
    lastn: LastNParam = None,
    memory_type: MemoryTypeParam = None,
) -> Response[str]:
    memory = wiring.get_memory()(
        current_tenant(), path_id(session_id), memory_type_param(memory_type), lastn_param(lastn)
    )
    metrics.add_metric(name="MemoryReads", unit="Count", value=1)
    return json_response(200, memory_json(memory))


@app.get(
    "/api/v2/sessions/<session_id>/messages",
    operation_id="get_session_messages",
    summary="List a session's messages",
    tags=["messages"],
    responses=responses(200, MessagePageBody, "One page of messages.", *PATH_ERRORS, headers=NEXT_PAGE_DOC),
)
@tracer.capture_method(capture_response=False)
def list_messages(
    session_id: SessionIdParam,
    limit: LimitParam = None,
    cursor: PageParam = None,
    page_token: PageTokenParam = None,
) -> Response[str]:
    """`cursor` is a 1-based page number; pages run oldest first. An answer cut short at 6 MB, or followed by more
    messages, names the rest in X-Next-Page-Token."""
    sid = path_id(session_id)
    scope = TokenScope(current_tenant(), "get_session_messages", sid)
    page_size = _page_size(limit)
    skip = ((int_param("cursor", cursor, minimum=1, maximum=10**9) or 1) - 1) * page_size
    page = wiring.messages().page(scope.tenant, sid, _start(scope, page_size, skip, page_token))
    found = take_fitting(page.messages, message_json, limit=page_size)
    return _listed(found, scope, _message_position, message_page_json(found.items, page.total_count))


@app.get(
    "/api/v2/sessions/<session_id>/messages/<message_id>",
    operation_id="get_session_message",
    summary="Get one message",
    tags=["messages"],
    responses=responses(200, MessageBody, "The message.", *PATH_ERRORS),
)
@tracer.capture_method(capture_response=False)
def get_message(session_id: SessionIdParam, message_id: MessageIdParam) -> Response[str]:
    message = wiring.messages().get(current_tenant(), path_id(session_id), message_uuid(message_id))
    return json_response(200, message_json(message))


@app.get(
    "/api/v2/users",
    operation_id="list_users",
    summary="List users",
    tags=["users"],
    responses=responses(
        200, list[UserBody], "Users, oldest first; an empty array past the end.", headers=NEXT_PAGE_DOC
    ),
)
@tracer.capture_method(capture_response=False)
def list_users(
    limit: LimitParam = None,
    cursor: OffsetParam = None,
    page_token: PageTokenParam = None,
) -> Response[str]:
    """`cursor` is Zep's offset; `page_token` (from X-Next-Page-Token) pages in O(page)."""
    scope = TokenScope(current_tenant(), "list_users")
    page_size = _page_size(limit)
    found = wiring.users().list(scope.tenant, _start(scope, page_size, _offset(cursor), page_token))
    return _listed(take_fitting(found, user_json, limit=page_size), scope, _user_position)


@app.get(
    "/api/v2/users/<user_id>",
    operation_id="get_user",
    summary="Get a user",
    tags=["users"],
    responses=responses(200, UserBody, "The user.", *PATH_ERRORS),
)
@tracer.capture_method(capture_response=False)
def get_user(user_id: UserIdParam) -> Response[str]:
    return json_response(200, user_json(wiring.users().get(current_tenant(), path_id(user_id, "user id"))))


@app.get(
    "/api/v2/users/<user_id>/sessions",
    operation_id="get_user_sessions",
    summary="List a user's sessions",
    tags=["users"],
    responses=responses(
        200, list[SessionBody], "The user's sessions, oldest first.", *PATH_ERRORS, headers=NEXT_PAGE_DOC
    ),
)
@tracer.capture_method(capture_response=False)
def get_user_sessions(
    user_id: UserIdParam,
    limit: LimitParam = None,
    page_token: PageTokenParam = None,
) -> Response[str]:
    """Every session of the user (Zep's answer) unless `limit`; an answer cut short at 6 MB names the rest in
    X-Next-Page-Token."""
    uid = path_id(user_id, "user id")
    scope = TokenScope(current_tenant(), "get_user_sessions", uid)
    page_size = int_param("limit", limit, minimum=1, maximum=limits.MAX_LIST_LIMIT)
    after = scope.position(page_token) if page_token else None
    found = wiring.users().sessions(scope.tenant, uid, after, page_size + 1 if page_size else None)
    return _listed(take_fitting(found, session_json, limit=page_size), scope, _session_position)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
