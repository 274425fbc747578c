"""The writing function: POST memory. The only function that loads the tokenizer."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.api.docs import BODY_ERRORS, IDEMPOTENCY_ERRORS, PATH_ERRORS, SessionIdParam, message_links, responses
from chat_memory.api.http import build_resolver, current_tenant, json_response, path_id, resolve
from chat_memory.api.schemas import AddMemoryBody, AddMemoryRequest
from chat_memory.observability import logger, metrics, tracer

app = build_resolver()


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
def add_memory(session_id: SessionIdParam, memory: Annotated[AddMemoryRequest, Body()]) -> Response[str]:
    sid = path_id(session_id)
    added = wiring.add_memory()(
        current_tenant(),
        sid,
        [m.to_domain() for m in memory.messages],
        metadata=memory.metadata,
        summary_instruction=memory.summary_instruction,
    )
    tokens = sum(a.token_count for a in added)
    metrics.add_metric(name="MessagesAdded", unit="Count", value=sum(not a.updated for a in added))
    metrics.add_metric(name="MessagesUpdated", unit="Count", value=sum(a.updated for a in added))
    metrics.add_metric(name="MessageTokens", unit="Count", value=tokens)
    logger.info("memory added", extra={"messages": len(added), "tokens": tokens})
    return json_response(
        201,
        {
            "message": "OK",
            "session_id": sid,
            "messages": [{"uuid": a.uuid, "created_at": a.created_at, "token_count": a.token_count} for a in added],
        },
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
