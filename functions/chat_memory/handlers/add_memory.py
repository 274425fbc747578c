"""The writing function: POST memory. The only function that loads the tokenizer."""

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
    message_links,
    ok_text_responses,
    responses,
)
from chat_memory.api.http import JSON, V1_PREFIX, Tenant, TenantRetention, build_resolver, resolve, v1_router
from chat_memory.api.params import SessionIdParam
from chat_memory.api.schemas import AddedMessageBody, AddMemoryBody, AddMemoryRequest
from chat_memory.observability import logger, metrics, tracer
from chat_memory.service.memory import AddMemory

IDEMPOTENT_WRITES = True  # takes an Idempotency-Key (the OpenAPI document says so for its routes)
app = build_resolver(wiring.http_middlewares(writes=IDEMPOTENT_WRITES))


@app.post(
    "/api/v2/sessions/<session_id>/memory",
    operation_id="add_memory",
    summary="Add messages to a session",
    tags=["memory"],
    responses=responses(
        201,
        AddMemoryBody,
        "Stored, all of them (the session is created if new).",
        *PATH_ERRORS,
        *BODY_ERRORS,
        *IDEMPOTENCY_ERRORS,
        links=message_links(),
    ),
)
@tracer.capture_method(capture_response=False)
def add_memory(
    session_id: SessionIdParam,
    memory: Annotated[AddMemoryRequest, Body()],
    tenant: Tenant,
    add: Annotated[AddMemory, Depends(wiring.add_memory)],
    retention_days: TenantRetention,
) -> Response[AddMemoryBody]:
    added = add(
        tenant,
        session_id,
        [m.to_domain() for m in memory.messages],
        metadata=memory.metadata,
        summary_instruction=memory.summary_instruction,
        retention_days=retention_days,
    )
    tokens = sum(a.token_count for a in added)
    metrics.add_metric(name="MessagesAdded", unit="Count", value=sum(not a.updated for a in added))
    metrics.add_metric(name="MessagesUpdated", unit="Count", value=sum(a.updated for a in added))
    metrics.add_metric(name="MessageTokens", unit="Count", value=tokens)
    logger.info("memory added", extra={"messages": len(added), "tokens": tokens})
    messages = [AddedMessageBody.model_validate(a) for a in added]
    return Response(201, JSON, AddMemoryBody(message="OK", session_id=session_id, messages=messages))


# API v1 (Zep 0.27, zep-python 1.x): the same use case under /api/v1, answered 200 with the bare text `OK`.
v1 = v1_router()


@v1.post(
    "/sessions/<session_id>/memory",
    operation_id="v1_add_memory",
    summary="Add messages to a session (v1)",
    tags=["v1"],
    responses=ok_text_responses(
        "Stored, all of them (the session is created if new).", *PATH_ERRORS, *BODY_ERRORS, *IDEMPOTENCY_ERRORS
    ),
)
@tracer.capture_method(capture_response=False)
def v1_add_memory(
    session_id: SessionIdParam,
    memory: Annotated[AddMemoryRequest, Body()],
    tenant: Tenant,
    add: Annotated[AddMemory, Depends(wiring.add_memory)],
    retention_days: TenantRetention,
) -> Response[str]:
    add_memory(session_id, memory, tenant, add, retention_days)
    return Response(200, TEXT, OK_TEXT)


app.include_router(v1, prefix=V1_PREFIX)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
