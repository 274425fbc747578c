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
        "requestContext": {"http": {"method": "GET"}},
    }
    answer = not_served.lambda_handler(event, FakeLambdaContext("NotServedFunction", "r"))  # type: ignore[arg-type]
    assert answer["statusCode"] == 404
    assert answer["headers"]["Content-Type"] == "application/json"
    message = json.loads(answer["body"])["message"]
    assert message.startswith("route not served by chat-memory: GET /api/v1/sessions/s/memory")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/sessions/s/memory"),  # zep-python 1.x
        ("GET", "/api/v2/sessions/s/facts"),  # Zep Cloud's facts
        ("POST", "/api/v2/collections/docs"),  # the document store
        ("PUT", "/api/v2/sessions/s"),  # a served path, another method: API Gateway's $default route takes it too
        ("GET", "/"),
    ],
)
def test_the_local_server_routes_what_it_does_not_serve_to_that_function(method: str, path: str) -> None:
    response = LocalApi().handle(HttpRequest(method=method, target=path))  # no key: the route is public
    assert response.status == 404
    message = json.loads(response.body)["message"]
    assert message.startswith(f"route not served by chat-memory: {method} {path.partition('?')[0]}")
