"""What `chat-memory serve` shows at /docs (Swagger UI) and /openapi.json: the checked-in infra/openapi.json.

Swagger UI's script and stylesheet are the copies Powertools ships, inlined, so the page works offline. The
document's server is "/": "Try it out" calls the server that showed the page (authorize with the API key first).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from chat_memory_dev.template import REPO_ROOT

# Written by `make openapi` (chat_memory_dev.gen.openapi). Named here, not imported from the generator: the server
# imports this module at start-up, and the generator imports every handler and Powertools' OpenAPI machinery.
OPENAPI_PATH = REPO_ROOT / "infra" / "openapi.json"
DOCS_PATH = "/docs"
OPENAPI_JSON_PATH = "/openapi.json"


@cache
def openapi_json() -> bytes:
    return OPENAPI_PATH.read_bytes()


@cache
def docs_html() -> bytes:
    # Imported on the first /docs request: Powertools' event_handler package is heavy to import.
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = resources.files("aws_lambda_powertools.event_handler.openapi.swagger_ui")
    html = generate_swagger_html(
        spec=openapi_json().decode("utf-8"),
        swagger_js=assets.joinpath("swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        swagger_css=assets.joinpath("swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
        persist_authorization=True,
    )
    return html.encode("utf-8")
