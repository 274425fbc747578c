"""Amazon Bedrock's Converse API, as the summariser and the dialog tools call it: one prompt in, its text out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient


@dataclass(frozen=True, slots=True)
class ConverseText:
    text: str
    input_tokens: int
    output_tokens: int


class ConverseError(RuntimeError):
    """Bedrock answered with an error (after the client's retries), or with no text."""


def bedrock_client(region: str | None, config: Config) -> BedrockRuntimeClient:
    return boto3.client("bedrock-runtime", region_name=region or None, config=config)


def converse(client: BedrockRuntimeClient, model_id: str, system: str, prompt: str, max_tokens: int) -> ConverseText:
    """One user turn, temperature 0; the answer's text, stripped, never empty."""
    request: dict[str, Any] = {
        "modelId": model_id,
        "system": [{"text": system}],
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": max_tokens, "temperature": 0},
    }
    try:
        response = client.converse(**request)
    except (ClientError, BotoCoreError) as exc:
        raise ConverseError(f"Bedrock model {model_id} failed: {exc}") from exc
    blocks = response["output"].get("message", {}).get("content", [])
    text = "".join(block.get("text", "") for block in blocks).strip()
    if not text:
        raise ConverseError(f"Bedrock model {model_id} returned no text")
    usage = response.get("usage", {})
    return ConverseText(text, int(usage.get("inputTokens", 0)), int(usage.get("outputTokens", 0)))
