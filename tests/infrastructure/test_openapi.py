"""infra/openapi.json: generated from the code, current, and in step with the template's routes."""

import json
import re
from typing import Any

import pytest

from chat_memory.api.idempotency import REPLAYED_HEADER
from chat_memory_dev.gen.openapi import IDEMPOTENCY_HEADER, build_document, render
from chat_memory_dev.local.api_docs import OPENAPI_PATH, docs_html, openapi_json
from chat_memory_dev.local.server import HttpRequest, LocalApi
from chat_memory_dev.template import api_operations, http_routes

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _shape(path: str) -> str:
    # The template names path parameters in camelCase, the handlers in snake_case: compare the shapes.
    return re.sub(r"\{[^}]+\}", "{}", path)


def test_the_checked_in_document_is_the_generated_one(document: dict[str, Any]) -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render(document), "run `make openapi`"


def test_it_documents_exactly_the_template_routes(document: dict[str, Any]) -> None:
    documented = {(method.upper(), _shape(path)) for method, path, _ in _operations(document)}
    # Not the $default route (every request no other route matches: 404 "route not served"), nor the console's page
    # and files (a browser's, not the API's: README, Console).
    routed = {(route.method, _shape(route.path)) for route in api_operations()}
    assert {r.path for r in http_routes()} - {r.path for r in api_operations()} == {
        "$default",
        "/console",
        "/console/{asset}",
    }
    assert documented == routed


def test_every_api_operation_needs_the_key_and_documents_its_errors(document: dict[str, Any]) -> None:
    assert document["security"] == [{"apiKey": []}]
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
    for method, path, operation in _operations(document):
        answers = operation["responses"]
        if path == "/healthz":
            assert operation["security"] == [], "the health check is public"
            continue
        assert "security" not in operation, f"{method} {path} inherits the API key requirement"
        assert {"400", "401", "503"} <= set(answers), f"{method} {path}"
        assert "Retry-After" in answers["503"]["headers"]
        for status, answer in answers.items():
            if status.startswith(("4", "5")):
                assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
        if "{" in path:
            assert "404" in answers, f"{method} {path}"


def test_no_route_documents_powertools_default_422(document: dict[str, Any]) -> None:
    text = json.dumps(document)
    assert "HTTPValidationError" not in text, "invalid requests are 400 ErrorBody here"
    for method, path, operation in _operations(document):
        if "422" in operation["responses"]:
            assert method != "get", f"only writes (Idempotency-Key reuse) answer 422: {method} {path}"


def test_writes_and_only_writes_take_an_idempotency_key(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        # Search is a POST that changes nothing, served by the read-only function: no key to keep.
        expected = method != "get" and path.startswith("/api/") and not path.endswith("/search")
        assert (IDEMPOTENCY_HEADER in headers) == expected, f"{method} {path}"
        success = next(answer for status, answer in operation["responses"].items() if status.startswith("2"))
        assert (REPLAYED_HEADER in success.get("headers", {})) == expected, f"{method} {path}"


def test_links_name_real_operations_and_their_parameters(document: dict[str, Any]) -> None:
    by_id = {operation["operationId"]: operation for _, _, operation in _operations(document)}
    links = [
        link
        for _, _, operation in _operations(document)
        for answer in operation["responses"].values()
        for link in answer.get("links", {}).values()
    ]
    assert links, "creating things links to what can be done with them"
    for link in links:
        target = by_id[link["operationId"]]
        names = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
        assert set(link["parameters"]) == names, link


def test_every_schema_reference_resolves(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for ref in re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(document)):
        assert ref in schemas


def test_serve_shows_the_document_and_swagger_ui() -> None:
    api = LocalApi(routes=(), authorizers={})
    spec = api.handle(HttpRequest(method="GET", target="/openapi.json"))
    assert spec.status == 200
    assert json.loads(spec.body) == json.loads(openapi_json())
    page = api.handle(HttpRequest(method="GET", target="/docs"))
    assert page.status == 200
    assert dict(page.headers)["content-type"].startswith("text/html")
    assert b"SwaggerUIBundle" in page.body, "Swagger UI's script is inlined (works offline)"
    assert b'"operationId": "add_memory"' in page.body
    assert page.body == docs_html()
    linked = api.handle(HttpRequest(method="GET", target="/docs?format=json"))
    assert json.loads(linked.body) == json.loads(openapi_json()), "the page's own link to its document"
