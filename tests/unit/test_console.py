"""The console's function: the page and its files with their content types and a strict Content-Security-Policy,
nothing else (no path reaches the file system), on AWS as from `chat-memory serve` (which routes /console to it)."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chat_memory.handlers import console
from chat_memory_dev.local.runtime import FakeLambdaContext
from chat_memory_dev.local.server import HttpRequest, LocalApi


def _get(asset: str | None) -> dict[str, Any]:
    path = "/console" if asset is None else f"/console/{asset}"
    event: dict[str, Any] = {"rawPath": path, "requestContext": {"http": {"method": "GET", "path": path}}}
    if asset is not None:
        event["pathParameters"] = {"asset": asset}
    return console.lambda_handler(event, FakeLambdaContext("ConsoleFunction", "r"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("asset", "content_type", "marker"),
    [
        (None, "text/html; charset=utf-8", "<title>chat-memory console</title>"),
        ("console.css", "text/css; charset=utf-8", ":root"),
        ("console.js", "text/javascript; charset=utf-8", "sessionStorage"),
        ("favicon.svg", "image/svg+xml", "<svg"),
    ],
)
def test_the_page_and_its_files_with_their_content_types(asset: str | None, content_type: str, marker: str) -> None:
    answer = _get(asset)
    assert answer["statusCode"] == 200
    assert answer["isBase64Encoded"] is False
    assert answer["headers"]["Content-Type"] == content_type
    assert marker in answer["body"]
    assert answer["headers"]["X-Content-Type-Options"] == "nosniff"
    assert answer["headers"]["Cache-Control"] == "no-cache"


def test_the_content_security_policy_allows_only_this_origin_and_no_inline_script() -> None:
    policy = _get(None)["headers"]["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    for name in ("script-src", "style-src", "connect-src", "img-src"):
        assert directives[name] == "'self'", name
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in policy and "data:" not in policy and "http" not in policy


def test_the_page_has_no_inline_script_or_style_and_loads_nothing_from_elsewhere() -> None:
    page = _get(None)["body"]
    assert re.findall(r"<script[^>]*>", page) == ['<script src="console/console.js" defer>']
    assert "<style" not in page and " style=" not in page
    assert not re.search(r"\son[a-z]+=", page), "an inline event handler"
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "a file from another origin"


@pytest.mark.parametrize(
    "asset",
    [
        "index.html",  # the page has one address: /console
        "missing.js",
        "../handlers/console.py",
        "..%2Fhandlers%2Fconsole.py",
        "/etc/passwd",
        "..",
        "",
        "CONSOLE.JS",
    ],
)
def test_anything_else_is_a_404_and_reads_no_file(asset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "_read", lambda name: pytest.fail(f"read {name}"))
    answer = _get(asset)
    assert answer["statusCode"] == 404
    assert answer["headers"]["Content-Type"] == "application/json"
    assert json.loads(answer["body"])["message"].startswith("no such console file: /console/")


def test_each_file_is_read_once_then_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "CONSOLE_DIR", tmp_path)
    monkeypatch.setattr(console, "_cache", {})
    (tmp_path / "console.js").write_text("first", encoding="utf-8")
    assert _get("console.js")["body"] == "first"
    (tmp_path / "console.js").write_text("second", encoding="utf-8")
    assert _get("console.js")["body"] == "first"


def test_the_local_server_routes_the_console_to_its_function_without_a_key() -> None:
    api = LocalApi()
    page = api.handle(HttpRequest(method="GET", target="/console"))
    assert page.status == 200
    headers = dict(page.headers)
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "Content-Security-Policy" in headers
    script = api.handle(HttpRequest(method="GET", target="/console/console.js"))
    assert (script.status, dict(script.headers)["Content-Type"]) == (200, "text/javascript; charset=utf-8")
    missing = api.handle(HttpRequest(method="GET", target="/console/nothing.css"))
    assert missing.status == 404
    assert json.loads(missing.body)["message"] == "no such console file: /console/nothing.css"
