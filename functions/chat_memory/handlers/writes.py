"""Every write but add_memory, none with the tokenizer: sessions, message metadata, users, and deletions (which
return at once: the items are purged in the background)."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.api.docs import (
    BODY_ERRORS,
    IDEMPOTENCY_ERRORS,
    OK_TEXT,
    PATH_ERRORS,
    TEXT,
    ok_text_responses,
    responses,
    session_links,
    user_links,
)
from chat_memory.api.http import (
    JSON,
    V1_PREFIX,
    Tenant,
    TenantRetention,
    build_resolver,
    resolve,
    serve_unchanged_on_v1,
    v1_router,
)
from chat_memory.api.params import MessageIdParam, SessionIdParam, UserIdParam
from chat_memory.api.schemas import (
    ClassifySessionBody,
    ClassifySessionRequest,
    CreateSessionRequest,
    CreateUserRequest,
    MessageBody,
    OkBody,
    SessionBody,
    UpdateMessageMetadataRequest,
    UpdateSessionRequest,
    UpdateUserRequest,
    UserBody,
)
from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError
from chat_memory.observability import logger, metrics, tracer
from chat_memory.service.dialog import Classification, ClassifySession
from chat_memory.service.memory import DeleteMemory
from chat_memory.service.sessions import Messages, Sessions
from chat_memory.service.users import Users

IDEMPOTENT_WRITES = True  # takes an Idempotency-Key (the OpenAPI document says so for its routes)
app = build_resolver(wiring.http_middlewares(writes=IDEMPOTENT_WRITES))

SessionsUseCase = Annotated[Sessions, Depends(wiring.sessions)]
MessagesUseCase = Annotated[Messages, Depends(wiring.messages)]
UsersUseCase = Annotated[Users, Depends(wiring.users)]
OK = OkBody(message="OK")


@app.post(
    "/api/v2/sessions",
    operation_id="add_session",
    summary="Create a session",
    tags=["sessions"],
    responses=responses(
        201,
        SessionBody,
        "The new session.",
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
        links=session_links("$response.body#/session_id"),
    ),
)
@tracer.capture_method(capture_response=False)
def create_session(
    body: Annotated[CreateSessionRequest, Body()],
    tenant: Tenant,
    sessions: SessionsUseCase,
    retention_days: TenantRetention,
) -> Response[SessionBody]:
    """`metadata.chat_memory.retention_days` sets the session's own retention period (see the README)."""
    session = sessions.create(tenant, body.session_id, body.user_id, body.metadata, retention_days=retention_days)
    return Response(201, JSON, SessionBody.model_validate(session))


@app.patch(
    "/api/v2/sessions/<session_id>",
    operation_id="update_session",
    summary="Update a session",
    tags=["sessions"],
    responses=responses(
        200, SessionBody, "The session, metadata deep-merged.", *PATH_ERRORS, *BODY_ERRORS, *IDEMPOTENCY_ERRORS
    ),
)
@tracer.capture_method(capture_response=False)
def update_session(
    session_id: SessionIdParam,
    body: Annotated[UpdateSessionRequest, Body()],
    tenant: Tenant,
    sessions: SessionsUseCase,
    retention_days: TenantRetention,
) -> SessionBody:
    """`metadata.chat_memory.retention_days` sets the session's own retention period (null: the tenant's)."""
    if body.session_id is not None and body.session_id != session_id:
        raise InvalidInputError("session_id in the body differs from the session id in the path")
    updated = sessions.update(tenant, session_id, body.user_id, body.metadata, retention_days=retention_days)
    return SessionBody.model_validate(updated)


@app.post(
    "/api/v2/sessions/<session_id>/classify",
    operation_id="classify_session",
    summary="Classify a session among given classes",
    tags=["sessions"],
    responses=responses(
        200,
        ClassifySessionBody,
        "The class chosen (kept in metadata.system.classes.<name> unless persist is false).",
        *PATH_ERRORS,
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
    ),
)
@tracer.capture_method(capture_response=False)
def classify_session(
    session_id: SessionIdParam,
    body: Annotated[ClassifySessionRequest, Body()],
    tenant: Tenant,
    classify: Annotated[ClassifySession, Depends(wiring.classify_session)],
    retention_days: TenantRetention,
) -> ClassifySessionBody:
    """With a Bedrock model configured (SummaryModelId), the model chooses; offline, the class whose words the
    newest messages share most (see the README)."""
    if body.session_id is not None and body.session_id != session_id:
        raise InvalidInputError("session_id in the body differs from the session id in the path")
    request = Classification(
        name=body.name,
        classes=body.classes,
        last_n=body.last_n or limits.DEFAULT_CLASSIFY_LAST_N,
        persist=body.persist is not False,
        instruction=body.instruction,
    )
    result = classify(tenant, session_id, request, retention_days=retention_days)
    metrics.add_metric(name="SessionsClassified", unit="Count", value=1)
    return ClassifySessionBody.model_validate({"name": result.name, "class": result.class_})


@app.delete(
    "/api/v2/sessions/<session_id>/memory",
    operation_id="delete_memory",
    summary="Delete a session and its memory",
    tags=["memory"],
    responses=responses(
        200,
        OkBody,
        "Deleted: gone from every read at once, purged in the background.",
        *PATH_ERRORS,
        *IDEMPOTENCY_ERRORS,
    ),
)
@tracer.capture_method(capture_response=False)
def delete_memory(
    session_id: SessionIdParam, tenant: Tenant, delete: Annotated[DeleteMemory, Depends(wiring.delete_memory)]
) -> OkBody:
    delete(tenant, session_id)
    metrics.add_metric(name="SessionsDeleted", unit="Count", value=1)
    return OK


@app.patch(
    "/api/v2/sessions/<session_id>/messages/<message_id>",
    operation_id="update_message_metadata",
    summary="Update a message's metadata",
    tags=["messages"],
    responses=responses(
        200, MessageBody, "The message, metadata deep-merged.", *PATH_ERRORS, *BODY_ERRORS, *IDEMPOTENCY_ERRORS
    ),
)
@tracer.capture_method(capture_response=False)
def update_message_metadata(
    session_id: SessionIdParam,
    message_id: MessageIdParam,
    body: Annotated[UpdateMessageMetadataRequest, Body()],
    tenant: Tenant,
    messages: MessagesUseCase,
) -> MessageBody:
    return MessageBody.model_validate(messages.update_metadata(tenant, session_id, message_id, body.metadata))


@app.post(
    "/api/v2/users",
    operation_id="add_user",
    summary="Create a user",
    tags=["users"],
    responses=responses(
        201,
        UserBody,
        "The new user.",
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
        links=user_links("$response.body#/user_id"),
    ),
)
@tracer.capture_method(capture_response=False)
def create_user(body: Annotated[CreateUserRequest, Body()], tenant: Tenant, users: UsersUseCase) -> Response[UserBody]:
    user = users.create(tenant, body.user_id, body.email, body.first_name, body.last_name, body.metadata)
    return Response(201, JSON, UserBody.model_validate(user))


@app.patch(
    "/api/v2/users/<user_id>",
    operation_id="update_user",
    summary="Update a user",
    tags=["users"],
    responses=responses(
        200,
        UserBody,
        "The user: given fields replaced, metadata deep-merged.",
        *PATH_ERRORS,
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
    ),
)
@tracer.capture_method(capture_response=False)
def update_user(
    user_id: UserIdParam, body: Annotated[UpdateUserRequest, Body()], tenant: Tenant, users: UsersUseCase
) -> UserBody:
    if body.user_id is not None and body.user_id != user_id:
        raise InvalidInputError("user_id in the body differs from the user id in the path")
    return UserBody.model_validate(users.update(tenant, user_id, body.to_domain()))


@app.delete(
    "/api/v2/users/<user_id>",
    operation_id="delete_user",
    summary="Delete a user and their sessions",
    tags=["users"],
    responses=responses(
        200,
        OkBody,
        "Deleted: the user and their sessions are gone from every read at once.",
        *PATH_ERRORS,
        *IDEMPOTENCY_ERRORS,
    ),
)
@tracer.capture_method(capture_response=False)
def delete_user(user_id: UserIdParam, tenant: Tenant, users: UsersUseCase) -> OkBody:
    users.delete(tenant, user_id)
    metrics.add_metric(name="UsersDeleted", unit="Count", value=1)
    return OK


# API v1 (Zep 0.27, zep-python 1.x): the same use cases under /api/v1; users under `/user`, deletions answer the
# bare text `OK` (README.md, "API v1").
v1 = v1_router()
OK_RESPONSE = Response(200, TEXT, OK_TEXT)
DeleteMemoryUseCase = Annotated[DeleteMemory, Depends(wiring.delete_memory)]


@v1.delete(
    "/sessions/<session_id>/memory",
    operation_id="v1_delete_memory",
    summary="Delete a session and its memory (v1)",
    tags=["v1"],
    responses=ok_text_responses(
        "Deleted: gone from every read at once, purged in the background.", *PATH_ERRORS, *IDEMPOTENCY_ERRORS
    ),
)
@tracer.capture_method(capture_response=False)
def v1_delete_memory(session_id: SessionIdParam, tenant: Tenant, delete: DeleteMemoryUseCase) -> Response[str]:
    delete_memory(session_id, tenant, delete)
    return OK_RESPONSE


@v1.delete(
    "/user/<user_id>",
    operation_id="v1_delete_user",
    summary="Delete a user and their sessions (v1)",
    tags=["v1"],
    responses=ok_text_responses(
        "Deleted: the user and their sessions are gone from every read at once.", *PATH_ERRORS, *IDEMPOTENCY_ERRORS
    ),
)
@tracer.capture_method(capture_response=False)
def v1_delete_user(user_id: UserIdParam, tenant: Tenant, users: UsersUseCase) -> Response[str]:
    delete_user(user_id, tenant, users)
    return OK_RESPONSE


serve_unchanged_on_v1(
    app,
    v1,
    [
        ("POST", "/api/v2/sessions", "/sessions"),
        ("PATCH", "/api/v2/sessions/<session_id>", "/sessions/<session_id>"),
        (
            "PATCH",
            "/api/v2/sessions/<session_id>/messages/<message_id>",
            "/sessions/<session_id>/messages/<message_id>",
        ),
        ("POST", "/api/v2/users", "/user"),
        ("PATCH", "/api/v2/users/<user_id>", "/user/<user_id>"),
    ],
)
app.include_router(v1, prefix=V1_PREFIX)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
