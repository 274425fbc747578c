"""The HTTP API's Lambda authorizer (payload 2.0, simple responses, cached by API Gateway per Authorization header).

It lets every request it sees through, with a context: `{"tenant": ...}` for a valid key (with
`"retention_days"` when the tenant has its own retention period: `chat-memory keys retention`), `{"denied": ...}`
otherwise, and the API functions answer 401 when there is no tenant. (An HTTP API answers 403 when an authorizer
says no, and zep-python raises AuthError only on 401.) A request without an Authorization header never gets
here: API Gateway answers 401 itself. The key is never logged; only its public id is.
"""

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import wiring
from chat_memory.observability import logger

_SCHEMES = ("bearer", "api-key")  # zep-python: "Api-Key <key>" for keys starting with z_, else "Bearer <key>"
_MAX_KEY_CHARS = 256


def key_from_header(header: str | None) -> str | None:
    scheme, _, key = (header or "").strip().partition(" ")
    key = key.strip()
    if scheme.lower() not in _SCHEMES or not key or len(key) > _MAX_KEY_CHARS or " " in key:
        return None
    return key


def authorization_header(event: Mapping[str, Any]) -> str | None:
    """The Authorization header: the event's identity source (the template's only one), else from its headers, by
    name in any case. (The event is read as a mapping, not with Powertools' data class: importing the data
    classes costs about a tenth of this function's cold start.)"""
    identity = event.get("identitySource") or []
    if len(identity) == 1 and isinstance(identity[0], str):
        return identity[0]
    headers = event.get("headers") or {}
    return next((str(v) for k, v in headers.items() if k.lower() == "authorization"), None)


def _allow(context: dict[str, Any]) -> dict[str, Any]:
    return {"isAuthorized": True, "context": context}  # a simple response (EnableSimpleResponses)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    key = key_from_header(authorization_header(event))
    if key is None:
        return _allow({"denied": "send the API key as 'Authorization: Bearer <key>' or 'Api-Key <key>'"})
    info = wiring.api_keys().lookup(key)
    if info is None or info.revoked:
        logger.info("API key refused", extra={"known": info is not None})
        return _allow({"denied": "the API key is not valid"})
    logger.info("API key accepted", extra={"key_id": info.key_id, "tenant": info.tenant})
    allowed: dict[str, Any] = {"tenant": info.tenant, "key_id": info.key_id}
    retention_days = wiring.tenant_settings().retention_days(info.tenant)
    if retention_days is not None:
        allowed["retention_days"] = retention_days
    return _allow(allowed)
