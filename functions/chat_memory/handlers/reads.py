"""Every read: sessions, memory windows, messages and users. Never loads the tokenizer, has no write permission."""

from collections.abc import Callable, Iterable
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from chat_memory import wiring
from chat_memory.api.docs import BUDGET_DOC, NEXT_PAGE_DOC, PATH_ERRORS, responses
from chat_memory.api.http import (
    JSON,
    MEMORY_TOKENS_HEADER,
    MEMORY_TRUNCATED_HEADER,
    NEXT_PAGE_HEADER,
    V1_PREFIX,
    Tenant,
    build_resolver,
    resolve,
    serve_unchanged_on_v1,
    v1_router,
)
from chat_memory.api.paging import TokenScope, fitted_memory, take_fitting
from chat_memory.api.params import (
    LastNMessagesParam,
    LastNParam,
    LimitParam,
    MaxTokensParam,
    MemoryTypeParam,
    MessageIdParam,
    OffsetParam,
    PageParam,
    PageTokenParam,
    SearchLimitParam,
    SessionIdParam,
    UserIdParam,
    V1LastNParam,
)
from chat_memory.api.schemas import (
    DeletionBody,
    MemoryBody,
    MessageBody,
    MessagePageBody,
    QuestionBody,
    SearchRequest,
    SearchResultBody,
    SessionBody,
    SummaryBody,
    UserBody,
    V1SearchResultBody,
)
from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError
from chat_memory.domain.models import Memory, MemoryType, Position, SearchHit, Session, Start, StoredMessage, User
from chat_memory.domain.retention import DeletionReceipt
from chat_memory.observability import logger, metrics, tracer
from chat_memory.service.dialog import SynthesizeQuestion
from chat_memory.service.memory import GetMemory
from chat_memory.service.search import SearchMemory
from chat_memory.service.sessions import Deletions, Messages, Sessions
from chat_memory.service.users import Users

IDEMPOTENT_WRITES = False  # reads only (search is a POST that changes nothing): no Idempotency-Key
app = build_resolver(wiring.http_middlewares(writes=IDEMPOTENT_WRITES))
T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

SessionsUseCase = Annotated[Sessions, Depends(wiring.sessions)]
MessagesUseCase = Annotated[Messages, Depends(wiring.messages)]
UsersUseCase = Annotated[Users, Depends(wiring.users)]
DeletionsUseCase = Annotated[Deletions, Depends(wiring.deletions)]


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


def _receipt_position(receipt: DeletionReceipt) -> Position:
    return Position(receipt.deleted_ts, receipt.session_id)


def _page(
    found: Iterable[T], model: type[M], limit: int | None, scope: TokenScope, position: Callable[[T], Position]
) -> tuple[list[M], dict[str, str] | None]:
    """What fits one answer, and the header naming the rest when more follow."""
    fitted = take_fitting(found, model.model_validate, limit=limit)
    headers = None if fitted.last is None else {NEXT_PAGE_HEADER: scope.token(position(fitted.last))}
    return fitted.items, headers


def _tenant_listing(
    scope: TokenScope,
    listing: Callable[[str, Start], Iterable[T]],
    model: type[M],
    position: Callable[[T], Position],
    limit: int | None,
    offset: int | None,
    page_token: str | None,
) -> Response[list[M]]:
    """One page of a tenant's sessions or users: from Zep's offset or a page token."""
    page_size = limit or limits.DEFAULT_LIST_LIMIT
    found = listing(scope.tenant, _start(scope, page_size, offset or 0, page_token))
    body, headers = _page(found, model, page_size, scope, position)
    return Response(200, JSON, body, headers)


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
    tenant: Tenant,
    sessions: SessionsUseCase,
    limit: LimitParam = None,
    cursor: OffsetParam = None,
    page_token: PageTokenParam = None,
) -> Response[list[SessionBody]]:
    """`cursor` is Zep's offset. `page_token` (from the previous page's X-Next-Page-Token) pages in O(page)."""
    scope = TokenScope(tenant, "list_sessions")
    return _tenant_listing(scope, sessions.list, SessionBody, _session_position, limit, cursor, page_token)


@app.get(
    "/api/v2/sessions/<session_id>",
    operation_id="get_session",
    summary="Get a session",
    tags=["sessions"],
    responses=responses(200, SessionBody, "The session.", *PATH_ERRORS),
)
@tracer.capture_method(capture_response=False)
def get_session(session_id: SessionIdParam, tenant: Tenant, sessions: SessionsUseCase) -> SessionBody:
    return SessionBody.model_validate(sessions.get(tenant, session_id))


@app.get(
    "/api/v2/sessions/<session_id>/memory",
    operation_id="get_memory",
    summary="Get a session's memory",
    tags=["memory"],
    responses=responses(
        200, MemoryBody, "The summary (or null) and the newest messages.", *PATH_ERRORS, headers=BUDGET_DOC
    ),
)
@tracer.capture_method(capture_response=False)
def get_memory(
    session_id: SessionIdParam,
    tenant: Tenant,
    get: Annotated[GetMemory, Depends(wiring.get_memory)],
    lastn: LastNParam = None,
    memory_type: MemoryTypeParam = MemoryType.PERPETUAL,
    max_tokens: MaxTokensParam = None,
) -> Response[MemoryBody]:
    memory = get(tenant, session_id, memory_type, lastn, max_tokens)
    metrics.add_metric(name="MemoryReads", unit="Count", value=1)
    body = fitted_memory(memory)
    return Response(200, JSON, body, budget_headers(memory, body) if max_tokens is not None else None)


def budget_headers(memory: Memory, body: MemoryBody) -> dict[str, str]:
    """What a budgeted memory holds as sent (after any cut to fit Lambda's 6 MB), and whether it left any out."""
    sent = (body.summary.token_count if body.summary else 0) + sum(m.token_count for m in body.messages)
    cut = memory.truncated or len(body.messages) < len(memory.messages)
    return {MEMORY_TOKENS_HEADER: str(sent), MEMORY_TRUNCATED_HEADER: "true" if cut else "false"}


@app.post(
    "/api/v2/sessions/<session_id>/search",
    operation_id="search_memory",
    summary="Search a session's messages or summaries",
    tags=["memory"],
    responses=responses(
        200, list[SearchResultBody], "The results, best first (a filter alone: newest first).", *PATH_ERRORS, 413, 415
    ),
)
@tracer.capture_method(capture_response=False)
def search_memory(
    session_id: SessionIdParam,
    body: Annotated[SearchRequest, Body()],
    tenant: Tenant,
    search: Annotated[SearchMemory, Depends(wiring.search_memory)],
    limit: SearchLimitParam = None,
) -> list[SearchResultBody]:
    hits = search(tenant, session_id, body.to_domain(limit or limits.DEFAULT_SEARCH_LIMIT))
    metrics.add_metric(name="MemorySearches", unit="Count", value=1)
    return take_fitting(hits, _search_result, limit=None).items


def _search_result(hit: SearchHit) -> SearchResultBody:
    message = MessageBody.model_validate(hit.message) if hit.message else None
    summary = SummaryBody.model_validate(hit.summary) if hit.summary else None
    metadata = hit.message.metadata if hit.message else None
    return SearchResultBody(message=message, summary=summary, metadata=metadata, score=hit.score, dist=hit.score)


@app.get(
    "/api/v2/sessions/<session_id>/synthesize_question",
    operation_id="synthesize_question",
    summary="A standalone question from a session's newest messages",
    tags=["memory"],
    responses=responses(200, QuestionBody, "The question.", *PATH_ERRORS),
)
@tracer.capture_method(capture_response=False)
def synthesize_question(
    session_id: SessionIdParam,
    tenant: Tenant,
    synthesize: Annotated[SynthesizeQuestion, Depends(wiring.synthesize_question)],
    last_n_messages: LastNMessagesParam = None,
) -> QuestionBody:
    """With a Bedrock model configured (SummaryModelId), the model writes it; offline, the user's last words with
    the names of the earlier messages (see the README). 400 when the session has no messages."""
    question = synthesize(tenant, session_id, last_n_messages or limits.DEFAULT_QUESTION_LAST_N)
    metrics.add_metric(name="QuestionsSynthesized", unit="Count", value=1)
    return QuestionBody(question=question)


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
    tenant: Tenant,
    messages: MessagesUseCase,
    limit: LimitParam = None,
    cursor: PageParam = None,
    page_token: PageTokenParam = None,
) -> Response[MessagePageBody]:
    """`cursor` is a 1-based page number; pages run oldest first. An answer cut short at 6 MB, or followed by more
    messages, names the rest in X-Next-Page-Token."""
    scope = TokenScope(tenant, "get_session_messages", session_id)
    page_size = limit or limits.DEFAULT_LIST_LIMIT
    skip = ((cursor or 1) - 1) * page_size
    page = messages.page(tenant, session_id, _start(scope, page_size, skip, page_token))
    found, headers = _page(page.messages, MessageBody, page_size, scope, _message_position)
    body = MessagePageBody(messages=found, total_count=page.total_count, row_count=len(found))
    return Response(200, JSON, body, headers)


@app.get(
    "/api/v2/sessions/<session_id>/messages/<message_id>",
    operation_id="get_session_message",
    summary="Get one message",
    tags=["messages"],
    responses=responses(200, MessageBody, "The message.", *PATH_ERRORS),
)
@tracer.capture_method(capture_response=False)
def get_message(
    session_id: SessionIdParam, message_id: MessageIdParam, tenant: Tenant, messages: MessagesUseCase
) -> MessageBody:
    return MessageBody.model_validate(messages.get(tenant, session_id, message_id))


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
    tenant: Tenant,
    users: UsersUseCase,
    limit: LimitParam = None,
    cursor: OffsetParam = None,
    page_token: PageTokenParam = None,
) -> Response[list[UserBody]]:
    """`cursor` is Zep's offset; `page_token` (from X-Next-Page-Token) pages in O(page)."""
    scope = TokenScope(tenant, "list_users")
    return _tenant_listing(scope, users.list, UserBody, _user_position, limit, cursor, page_token)


@app.get(
    "/api/v2/deletions",
    operation_id="list_deletions",
    summary="List deletion receipts",
    tags=["deletions"],
    responses=responses(
        200,
        list[DeletionBody],
        "Receipts of the sessions purged in the last 90 days (DELETEs, user deletions, retention), newest first.",
        headers=NEXT_PAGE_DOC,
    ),
)
@tracer.capture_method(capture_response=False)
def list_deletions(
    tenant: Tenant, deletions: DeletionsUseCase, limit: LimitParam = None, page_token: PageTokenParam = None
) -> Response[list[DeletionBody]]:
    """One receipt per purged session: its id, when it became unreadable, how many items the purge deleted and
    why; never its content or metadata. A receipt appears once the background purge has finished. `page_token`
    (from X-Next-Page-Token) pages in O(page)."""
    scope = TokenScope(tenant, "list_deletions")
    page_size = limit or limits.DEFAULT_LIST_LIMIT
    found = deletions.list(tenant, _start(scope, page_size, 0, page_token))
    body, headers = _page(found, DeletionBody, page_size, scope, _receipt_position)
    return Response(200, JSON, body, headers)


@app.get(
    "/api/v2/users/<user_id>",
    operation_id="get_user",
    summary="Get a user",
    tags=["users"],
    responses=responses(200, UserBody, "The user.", *PATH_ERRORS),
)
@tracer.capture_method(capture_response=False)
def get_user(user_id: UserIdParam, tenant: Tenant, users: UsersUseCase) -> UserBody:
    return UserBody.model_validate(users.get(tenant, user_id))


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
    tenant: Tenant,
    users: UsersUseCase,
    limit: LimitParam = None,
    page_token: PageTokenParam = None,
) -> Response[list[SessionBody]]:
    """Every session of the user (Zep's answer) unless `limit`; an answer cut short at 6 MB names the rest in
    X-Next-Page-Token."""
    scope = TokenScope(tenant, "get_user_sessions", user_id)
    after = scope.position(page_token) if page_token else None
    found = users.sessions(tenant, user_id, after, limit + 1 if limit else None)
    body, headers = _page(found, SessionBody, limit, scope, _session_position)
    return Response(200, JSON, body, headers)


# API v1 (Zep 0.27, zep-python 1.x, LangChain's community classes): a thin edge over the same use cases, included
# under /api/v1. Users are under `/user` (singular); the differences are listed in README.md ("API v1").
v1 = v1_router()
GetMemoryUseCase = Annotated[GetMemory, Depends(wiring.get_memory)]
SearchUseCase = Annotated[SearchMemory, Depends(wiring.search_memory)]


@v1.get(
    "/sessions/<session_id>/memory",
    operation_id="v1_get_memory",
    summary="Get a session's memory (v1)",
    tags=["v1"],
    responses=responses(
        200, MemoryBody, "The summary (or null) and the newest messages.", *PATH_ERRORS, headers=BUDGET_DOC
    ),
)
@tracer.capture_method(capture_response=False)
def v1_get_memory(
    session_id: SessionIdParam,
    tenant: Tenant,
    get: GetMemoryUseCase,
    lastn: V1LastNParam = None,
    max_tokens: MaxTokensParam = None,
) -> Response[MemoryBody]:
    """Zep 0.27: no `lastn` (or 0) is perpetual memory; `lastn=N` the newest N messages and the latest summary.
    `max_tokens` (ours) cuts either to a token budget, as on v2."""
    if lastn:
        memory = get.latest(tenant, session_id, lastn, max_tokens)
    else:
        memory = get(tenant, session_id, MemoryType.PERPETUAL, None, max_tokens)
    metrics.add_metric(name="MemoryReads", unit="Count", value=1)
    body = fitted_memory(memory)
    return Response(200, JSON, body, budget_headers(memory, body) if max_tokens is not None else None)


@v1.post(
    "/sessions/<session_id>/search",
    operation_id="v1_search_memory",
    summary="Search a session's messages or summaries (v1)",
    tags=["v1"],
    responses=responses(200, list[V1SearchResultBody], "The results, best first.", *PATH_ERRORS, 413, 415),
)
@tracer.capture_method(capture_response=False)
def v1_search_memory(
    session_id: SessionIdParam,
    body: Annotated[SearchRequest, Body()],
    tenant: Tenant,
    search: SearchUseCase,
    limit: SearchLimitParam = None,
) -> list[V1SearchResultBody]:
    found = search_memory(session_id, body, tenant, search, limit)
    return [V1SearchResultBody(message=r.message, summary=r.summary, metadata=r.metadata, dist=r.dist) for r in found]


serve_unchanged_on_v1(
    app,
    v1,
    [
        ("GET", "/api/v2/sessions", "/sessions"),
        ("GET", "/api/v2/sessions/<session_id>", "/sessions/<session_id>"),
        ("GET", "/api/v2/sessions/<session_id>/messages", "/sessions/<session_id>/messages"),
        ("GET", "/api/v2/sessions/<session_id>/messages/<message_id>", "/sessions/<session_id>/messages/<message_id>"),
        ("GET", "/api/v2/users", "/user"),
        ("GET", "/api/v2/users/<user_id>", "/user/<user_id>"),
        ("GET", "/api/v2/users/<user_id>/sessions", "/user/<user_id>/sessions"),
    ],
)
app.include_router(v1, prefix=V1_PREFIX)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
