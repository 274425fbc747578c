"""A request no route serves gets a 404 that says so: not the unknown-session answer, on AWS (the $default route's
function) as locally (chat-memory serve routes it to the same function)."""

import json

import pytest

from chat_memory.handlers import not_served
from chat_memory_dev.local.runtime import FakeLambdaContext
from chat_memory_dev.local.server import HttpRequest, LocalApi


def test_the_function_names_the_route_it_does_not_serve() -> None:
    event = {
        "routeKey": "$default",
        "rawPath": "/api/v1/sessions/s/memory",
        "requestContext": {"http": {"method": "PUT"}},
    }
    answer = not_served.lambda_handler(event, FakeLambdaContext("NotServedFunction", "r"))  # type: ignore[arg-type]
    assert answer["statusCode"] == 404
    assert answer["headers"]["Content-Type"] == "application/json"
    message = json.loads(answer["body"])["message"]
    assert message.startswith("route not served by chat-memory: PUT /api/v1/sessions/s/memory")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/sessions/s/memory"),  # a served v1 path, another method
        ("GET", "/api/v1/users"),  # v1's users are under /user
        ("GET", "/api/v2/sessions/s/facts"),  # Zep Cloud's facts
        ("PUT", "/api/v2/sessions/s"),  # a served path, another method: API Gateway's $default route takes it too
        ("GET", "/"),
    ],
)
def test_the_local_server_routes_what_it_does_not_serve_to_that_function(method: str, path: str) -> None:
    response = LocalApi().handle(HttpRequest(method=method, target=path))  # no key: the route is public
    assert response.status == 404
    message = json.loads(response.body)["message"]
    assert message.startswith(f"route not served by chat-memory: {method} {path.partition('?')[0]}")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/collection"),  # zep-python 1.x's document client
        ("POST", "/api/v1/collection/docs"),
        ("POST", "/api/v1/collection/docs/document"),
        ("POST", "/api/v1/collection/docs/search?limit=3"),
        ("GET", "/api/v2/collections"),  # rc6's document client, ZepVectorStore
        ("POST", "/api/v2/collections/docs"),
        ("GET", "/api/v2/collections/docs/documents/uuid/00000000-0000-4000-8000-000000000000"),
    ],
)
def test_the_document_store_answers_501_that_it_is_not_served(method: str, path: str) -> None:
    response = LocalApi().handle(HttpRequest(method=method, target=path))  # no key: the route is public
    assert response.status == 501
    message = json.loads(response.body)["message"]
    assert message.startswith(f"the document store (collections and documents) is not served by chat-memory: {method} ")
    assert "not found" not in message


@pytest.mark.parametrize(
    "path", ["/api/v1/collections", "/api/v2/collection", "/api/v1/collectionx", "/api/v3/collection"]
)
def test_only_the_document_stores_own_paths_get_its_answer(path: str) -> None:
    response = LocalApi().handle(HttpRequest(method="GET", target=path))
    assert response.status == 404
    assert json.loads(response.body)["message"].startswith("route not served by chat-memory")
