"""Read-only function: sessions and memory windows. Never loads the tokenizer, has no write permission."""

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.api.http import (
    build_resolver,
    current_tenant,
    int_param,
    json_response,
    lastn_param,
    memory_type_param,
    path_id,
    resolve,
)
from chat_memory.api.schemas import memory_json, session_json
from chat_memory.domain import limits
from chat_memory.observability import logger, metrics, tracer

app = build_resolver()


@app.get("/api/v2/sessions")
@tracer.capture_method(capture_response=False)
def list_sessions(
    limit: Annotated[str | None, Query()] = None,
    cursor: Annotated[str | None, Query()] = None,
) -> Response[str]:
    page_size = int_param("limit", limit, minimum=1, maximum=limits.MAX_LIST_LIMIT) or limits.DEFAULT_LIST_LIMIT
    offset = int_param("cursor", cursor, minimum=0, maximum=10**9) or 0
    found = wiring.sessions().list(current_tenant(), offset, page_size)
    return json_response(200, [session_json(s) for s in found])


@app.get("/api/v2/sessions/<session_id>")
@tracer.capture_method(capture_response=False)
def get_session(session_id: str) -> Response[str]:
    session = wiring.sessions().get(current_tenant(), path_id(session_id))
    return json_response(200, session_json(session))


@app.get("/api/v2/sessions/<session_id>/memory")
@tracer.capture_method(capture_response=False)
def get_memory(
    session_id: str,
    lastn: Annotated[str | None, Query()] = None,
    memory_type: Annotated[str | None, Query(alias="memoryType")] = None,
) -> Response[str]:
    memory = wiring.get_memory()(
        current_tenant(), path_id(session_id), memory_type_param(memory_type), lastn_param(lastn)
    )
    metrics.add_metric(name="MemoryReads", unit="Count", value=1)
    return json_response(200, memory_json(memory))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return resolve(app, event, context)
