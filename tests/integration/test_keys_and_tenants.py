"""API keys (the authorizer) and tenant isolation, against moto."""

import io
import json
import logging
import uuid
from typing import Any

import pytest

from chat_memory import wiring
from chat_memory.adapters.dynamodb.api_keys import KEY_PREFIX, key_hash
from chat_memory_dev.template import http_routes
from tests.http_events import FakeContext, http_event
from tests.integration.conftest import Invoke, all_items


def _authorize(header: str | None) -> dict[str, Any]:
    from chat_memory.handlers import authorizer

    headers = {"authorization": header} if header is not None else {}
    event = {"version": "2.0", "type": "REQUEST", "headers": headers, "identitySource": [header or ""]}
    context: Any = FakeContext()
    result: dict[str, Any] = authorizer.lambda_handler(event, context)
    return result


@pytest.mark.usefixtures("ddb")
def test_a_valid_key_names_its_tenant_in_both_header_forms() -> None:
    info, secret = wiring.api_keys().create("acme", "prod")
    assert secret.startswith(KEY_PREFIX)
    assert len(secret) > 40
    for header in (f"Bearer {secret}", f"Api-Key {secret}", f"bearer  {secret} "):
        result = _authorize(header)
        assert result == {"isAuthorized": True, "context": {"tenant": "acme", "key_id": info.key_id}}, header


@pytest.mark.usefixtures("ddb")
@pytest.mark.parametrize(
    "header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", f"Bearer {KEY_PREFIX}unknown", "Token abc"]
)
def test_missing_malformed_or_unknown_keys_name_no_tenant(header: str | None) -> None:
    wiring.api_keys().create("acme", "prod")
    result = _authorize(header)
    assert result["isAuthorized"] is True
    assert "tenant" not in result["context"]
    assert result["context"]["denied"]


@pytest.mark.usefixtures("ddb")
def test_a_revoked_key_stops_working() -> None:
    store = wiring.api_keys()
    info, secret = store.create("acme", "leaked")
    assert _authorize(f"Bearer {secret}")["context"]["tenant"] == "acme"
    assert store.revoke(info.key_id) is True
    assert "tenant" not in _authorize(f"Bearer {secret}")["context"]
    assert store.revoke("0000000000000000") is False
    assert [(k.key_id, k.revoked) for k in store.list_keys()] == [(info.key_id, True)]


def test_keys_are_stored_only_as_hashes_and_looked_up_by_hash(ddb: Any) -> None:
    _, secret = wiring.api_keys().create("acme", "prod")
    items = all_items(ddb)
    assert secret not in json.dumps(items)
    (item,) = items
    assert item["PK"]["S"] == f"APIKEY#{key_hash(secret)}", "a GetItem by hash: no secret is compared byte by byte"


def test_keys_never_appear_in_logs(ddb: Any) -> None:
    from chat_memory.observability import logger

    # The functions' own log handler and formatter, writing to a buffer, at the most verbose level.
    service_logger = logging.getLogger(logger.name)
    buffer = io.StringIO()
    capture = logging.StreamHandler(buffer)
    capture.setFormatter(service_logger.handlers[0].formatter)
    service_logger.addHandler(capture)
    level = service_logger.level
    service_logger.setLevel(logging.DEBUG)
    try:
        store = wiring.api_keys()
        info, secret = store.create("acme", "prod")
        _authorize(f"Bearer {secret}")
        store.revoke(info.key_id)
        _authorize(f"Bearer {secret}")
        _authorize(f"Bearer {secret}x")
    finally:
        service_logger.removeHandler(capture)
        service_logger.setLevel(level)
    logged = buffer.getvalue()
    assert info.key_id in logged, "the public id is logged (the test would pass vacuously otherwise)"
    assert secret not in logged
    assert key_hash(secret) not in logged


def _route_params(path: str) -> str:
    return path.replace("{sessionId}", "s").replace("{userId}", "u").replace("{messageId}", str(uuid.uuid4()))


@pytest.mark.usefixtures("ddb")
@pytest.mark.parametrize(
    "route", [r for r in http_routes() if r.path.startswith("/api/")], ids=lambda r: f"{r.method} {r.path}"
)
def test_every_api_route_is_401_without_an_authorized_tenant(route: Any) -> None:
    import importlib

    module_name, _, attr = route.handler.rpartition(".")
    handler = getattr(importlib.import_module(module_name), attr)
    event = http_event(route.method, _route_params(route.path), {"session_id": "s"}, tenant=None)
    result = handler(event, FakeContext())
    assert result["statusCode"] == 401
    assert "API key" in json.loads(result["body"])["message"]


def test_same_session_id_in_two_tenants_is_two_sessions(api: Invoke) -> None:
    for tenant in ("a", "b"):
        reply = api(
            "POST", "/api/v2/sessions/same/memory", {"messages": [{"content": f"from {tenant}"}]}, tenant=tenant
        )
        assert reply.status == 201
    for tenant in ("a", "b"):
        memory = api("GET", "/api/v2/sessions/same/memory", tenant=tenant).body
        assert [m["content"] for m in memory["messages"]] == [f"from {tenant}"]


def test_tenant_b_can_reach_nothing_of_tenant_a(api: Invoke, ddb: Any) -> None:
    def a(method: str, path: str, body: Any = None, query: str = "") -> Any:
        return api(method, path, body, query=query, tenant="a")

    def b(method: str, path: str, body: Any = None, query: str = "") -> Any:
        return api(method, path, body, query=query, tenant="b")

    assert a("POST", "/api/v2/users", {"user_id": "ann"}).status == 201
    assert a("POST", "/api/v2/sessions", {"session_id": "secret", "user_id": "ann"}).status == 201
    added = a("POST", "/api/v2/sessions/secret/memory", {"messages": [{"content": "private"}]}).body["messages"]
    message = f"/api/v2/sessions/secret/messages/{added[0]['uuid']}"
    before = all_items(ddb)

    never = b("GET", "/api/v2/sessions/never-existed").body["message"]
    assert b("GET", "/api/v2/sessions/secret").body["message"] == never.replace("never-existed", "secret")
    for method, path, body in (
        ("GET", "/api/v2/sessions/secret", None),
        ("GET", "/api/v2/sessions/secret/memory", None),
        ("GET", "/api/v2/sessions/secret/messages", None),
        ("GET", message, None),
        ("PATCH", message, {"metadata": {"x": 1}}),
        ("PATCH", "/api/v2/sessions/secret", {"metadata": {"x": 1}}),
        ("GET", "/api/v2/sessions/secret/synthesize_question", None),
        ("POST", "/api/v2/sessions/secret/classify", {"name": "n", "classes": ["private"]}),
        ("DELETE", "/api/v2/sessions/secret/memory", None),
        ("GET", "/api/v2/users/ann", None),
        ("GET", "/api/v2/users/ann/sessions", None),
        ("PATCH", "/api/v2/users/ann", {"email": "x@y.z"}),
        ("DELETE", "/api/v2/users/ann", None),
    ):
        assert b(method, path, body).status == 404, (method, path)
    assert b("GET", "/api/v2/sessions").body == []
    assert b("GET", "/api/v2/users").body == []
    assert b("POST", "/api/v2/sessions", {"session_id": "x", "user_id": "ann"}).status == 400, "A's user is not B's"
    assert all_items(ddb) == before, "nothing of A's was changed"

    # B's own session of the same id is independent, and adding to it touches nothing of A's.
    assert b("POST", "/api/v2/sessions/secret/memory", {"messages": [{"content": "b's"}]}).status == 201
    assert [m["content"] for m in a("GET", "/api/v2/sessions/secret/memory").body["messages"]] == ["private"]
    assert [s["session_id"] for s in a("GET", "/api/v2/sessions").body] == ["secret"]
    assert [u["user_id"] for u in a("GET", "/api/v2/users").body] == ["ann"]
