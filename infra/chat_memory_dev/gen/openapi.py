"""Generate infra/openapi.json, the OpenAPI 3.1 description of the whole HTTP API, from the code.

Each HTTP function's resolver describes its own routes (Powertools' OpenAPI support: paths, parameters and
request bodies from the handlers' signatures and pydantic models, answers from chat_memory.api.docs); the
functions to read come from template.yaml, and Powertools' OpenAPIMerge joins them. Three things are added here
because no resolver can say them: GET /healthz (a bare handler, no resolver), the API-key security scheme (API
Gateway's authorizer, not the functions, asks for it) and the Idempotency-Key header (read by the shared edge code,
not by any one route). Powertools' default 422 "HTTPValidationError" answer is dropped: invalid requests get 400
with ErrorBody here (chat_memory.api.http).

`python -m chat_memory_dev.gen.openapi` writes the file; `--check` fails when the checked-in file is out of date.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

from chat_memory import __version__
from chat_memory.api.idempotency import MAX_KEY_CHARS, REPLAYED_HEADER, WRITE_METHODS
from chat_memory_dev.local.api_docs import OPENAPI_PATH
from chat_memory_dev.template import TEMPLATE_PATH, http_routes

SECURITY_SCHEME = "apiKey"
IDEMPOTENCY_HEADER = "Idempotency-Key"
JSON = "application/json"
_POWERTOOLS_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError", "ResponseValidationError")

DESCRIPTION = """\
Zep's memory API (as zep-python 2.0.0rc6 calls it), served by chat-memory from your own AWS account.

Every route under /api/v2 needs an API key: `Authorization: Bearer <key>` (or `Api-Key <key>`).
Errors are JSON `{"message": "..."}`. Writes accept an `Idempotency-Key` header.
"""

_HEALTHZ: dict[str, Any] = {
    "get": {
        "operationId": "healthz",
        "summary": "Health check (what every ZepClient calls first)",
        "tags": ["health"],
        "security": [],
        "responses": {
            "200": {
                "description": 'Always "." (no newline); X-Zep-Version tells the Zep version served.',
                "headers": {"X-Zep-Version": {"schema": {"type": "string"}}},
                "content": {"text/plain": {"schema": {"type": "string", "const": "."}}},
            }
        },
    }
}

_IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "name": IDEMPOTENCY_HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: a second request with the same key (same API key, method and path) returns the "
        "first successful answer (with `Idempotent-Replayed: true`) and stores nothing again. Keys are kept "
        f"24 hours. 1 to {MAX_KEY_CHARS} visible ASCII characters."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_CHARS, "pattern": "^[\\x21-\\x7e]+$"},
}
_REPLAYED: dict[str, Any] = {
    "description": "`true` when this is the stored answer to an earlier request with the same Idempotency-Key.",
    "schema": {"type": "string", "enum": ["true"]},
}


def _resolver_modules(template: Path) -> list[str]:
    """The modules of the functions behind the template's HTTP routes, each once, in the template's order."""
    modules: dict[str, None] = {}
    for route in http_routes(template):
        modules.setdefault(route.handler.rsplit(".", 1)[0], None)
    return list(modules)


def _drop_default_validation_answers(document: dict[str, Any]) -> None:
    default = {"$ref": "#/components/schemas/HTTPValidationError"}
    for path_item in document["paths"].values():
        for operation in path_item.values():
            answers = operation["responses"]
            if answers.get("422", {}).get("content", {}).get(JSON, {}).get("schema") == default:
                del answers["422"]
    paths = json.dumps(document["paths"])
    for name in _POWERTOOLS_VALIDATION_SCHEMAS:
        if f"/schemas/{name}" in paths:
            raise ValueError(f"a route still refers to Powertools' {name}")
        document["components"]["schemas"].pop(name, None)


def _sort_answers(document: dict[str, Any]) -> None:
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            operation["responses"] = dict(sorted(operation.get("responses", {}).items()))


def _add_idempotency_header(document: dict[str, Any], idempotent: set[tuple[str, str]]) -> None:
    """The header on the write operations of the functions that take it (`idempotent`: (path, method))."""
    for path, path_item in document.get("paths", {}).items():
        for method, operation in path_item.items():
            if method.upper() in WRITE_METHODS and (path, method) in idempotent:
                operation.setdefault("parameters", []).append(_IDEMPOTENCY_PARAMETER)
                for status, answer in operation["responses"].items():
                    if status.startswith("2"):
                        answer.setdefault("headers", {})[REPLAYED_HEADER] = _REPLAYED


def build_document(template: Path = TEMPLATE_PATH) -> dict[str, Any]:
    merge = OpenAPIMerge(
        title="chat-memory",
        version=__version__,
        description=DESCRIPTION,
        security_schemes={
            SECURITY_SCHEME: HTTPBearer(description="An API key from `chat-memory keys create` (or `make run`).")
        },
        security=[{SECURITY_SCHEME: []}],
        on_conflict="error",
    )
    idempotent: set[tuple[str, str]] = set()
    for module_name in _resolver_modules(template):
        module = importlib.import_module(module_name)
        resolver = getattr(module, "app", None)
        if isinstance(resolver, ApiGatewayResolver):
            schema = resolver.get_openapi_schema().model_dump(by_alias=True, exclude_none=True)
            merge.add_schema(schema)
            if getattr(module, "IDEMPOTENT_WRITES", False):
                idempotent |= {(p, m) for p, item in schema.get("paths", {}).items() for m in item}
    document: dict[str, Any] = json.loads(merge.get_openapi_json_schema())
    _drop_default_validation_answers(document)
    _add_idempotency_header(document, idempotent)
    _sort_answers(document)
    document["paths"] = {"/healthz": _HEALTHZ, **dict(sorted(document["paths"].items()))}
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail if the checked-in file is out of date")
    parser.add_argument("--out", type=Path, default=OPENAPI_PATH)
    args = parser.parse_args(argv)
    text = render(build_document())
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.exists() else ""
        if current != text:
            print(f"{args.out} is out of date: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
