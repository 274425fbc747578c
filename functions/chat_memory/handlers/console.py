"""GET /console and GET /console/{asset}: the memory console, a static page that calls the public API with the key
the user types in (kept in the tab's sessionStorage). The page needs no key itself; every API call it makes does.

No resolver, no AWS client, no logging: the files are read once, when first asked for, and kept. Only the
names in ASSETS are served (nothing from the request reaches the file system), with a strict Content-Security-Policy
(no inline script, no other origin)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from aws_lambda_powertools.utilities.typing import LambdaContext

CONSOLE_DIR: Final = Path(__file__).resolve().parent.parent / "console"
INDEX: Final = "index.html"
ASSETS: Final = {
    INDEX: "text/html; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_NOSNIFF: Final = {"X-Content-Type-Options": "nosniff"}  # every answer's type is the one it says
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    **_NOSNIFF,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time: a deployment's new page and scripts are used at once, never mixed with old ones.
    "Cache-Control": "no-cache",
}
_cache: dict[str, str] = {}


def _read(name: str) -> str:
    if name not in _cache:
        _cache[name] = (CONSOLE_DIR / name).read_text(encoding="utf-8")
    return _cache[name]


def _not_found(path: str) -> dict[str, Any]:
    return {
        "statusCode": 404,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store", **_NOSNIFF},
        "body": json.dumps({"message": f"no such console file: {path}"}, ensure_ascii=False),
        "isBase64Encoded": False,
    }


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    path = str(event.get("rawPath", ""))
    asset = (event.get("pathParameters") or {}).get("asset")
    name = INDEX if asset is None else str(asset)
    if name not in ASSETS or (asset is not None and name == INDEX):
        return _not_found(path)
    return {
        "statusCode": 200,
        "headers": {"Content-Type": ASSETS[name], **SECURITY_HEADERS},
        "body": _read(name),
        "isBase64Encoded": False,
    }
