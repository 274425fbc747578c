"""GET /healthz: what every ZepClient constructor calls first, without credentials.

zep-python needs status 200 and a body of exactly "."; it reads the version before the first "-".
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from chat_memory import __version__

ZEP_COMPATIBLE_VERSION = "0.27.2"
HEADERS = {
    "Content-Type": "text/plain; charset=utf-8",
    "X-Zep-Version": f"{ZEP_COMPATIBLE_VERSION}-chat-memory-{__version__}",
    "Cache-Control": "no-store",
}


def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # No resolver, no AWS client: the cheapest possible cold start for a call made on every client start.
    return {"statusCode": 200, "headers": HEADERS, "body": ".", "isBase64Encoded": False}
