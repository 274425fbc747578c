"""Amazon Bedrock, stubbed at the botocore level: the real client (its serialisation, retries and error parsing)
gets scripted HTTP answers; nothing leaves the process."""

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

from botocore.awsrequest import AWSResponse, HTTPHeaders
from moto.core.models import botocore_stubber


class _Body(io.BytesIO):
    def stream(self, **_: Any) -> Iterator[bytes]:  # what botocore reads a response body with
        yield self.getvalue()


def bedrock_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> AWSResponse:
    http_headers = HTTPHeaders()
    for name, value in (headers or {}).items():
        http_headers[name] = value
    return AWSResponse(
        "https://bedrock-runtime.us-east-1.amazonaws.com", status, http_headers, _Body(json.dumps(body).encode())
    )


def answer_calls(client: Any, operation: str, answer: Callable[[Any], AWSResponse]) -> None:
    """Answer `client`'s `operation` calls (e.g. "Converse") with `answer(request)`."""
    # moto answers every AWS call in these tests and does not implement Bedrock: this client gets the script.
    events: Any = client.meta.events  # botocore's typing allows only handlers that return None
    events.unregister("before-send", botocore_stubber)
    events.register(f"before-send.bedrock-runtime.{operation}", lambda request, **_: answer(request))


def converse_ok(text: str) -> AWSResponse:
    """Converse's answer with `text` as the model's reply."""
    return bedrock_response(
        200,
        {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 321, "outputTokens": 12, "totalTokens": 333},
            "metrics": {"latencyMs": 100},
        },
    )
