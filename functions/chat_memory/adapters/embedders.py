"""Embedding models behind the TextEmbedder port: Amazon Bedrock's Titan Text Embeddings (v2, v1) and Cohere Embed
(v3), called with InvokeModel. Errors after the client's retries are ModelUnavailableError."""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chat_memory.domain.errors import ModelUnavailableError
from chat_memory.settings import EMBEDDING_MODEL_FAMILIES

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

# Titan v2 takes up to 50,000 characters (8,192 tokens), Cohere 2,048 characters (then truncate="END"): a message's
# beginning is what its embedding is made of.
_MAX_INPUT_CHARS: Final = 20_000
TITAN_V2_DIMENSIONS: Final = 256  # of 256, 512, 1024: 256 bytes per message as stored


class BedrockTextEmbedder:
    """One text per InvokeModel call. `patient`: the background embedder's client (long timeouts, adaptive retries);
    else the search's (a query waits at most about 5 s for its embedding, then ranks lexically)."""

    def __init__(self, model_id: str, region: str | None, *, patient: bool) -> None:
        if not model_id.startswith(EMBEDDING_MODEL_FAMILIES):
            raise ValueError(f"not an embedding model this service calls: {model_id!r} (Titan Text or Cohere Embed)")
        self._model_id = model_id
        self._region = region or None
        self._patient = patient
        v2 = model_id.startswith("amazon.titan-embed-text-v2")
        self.model = f"{model_id}/{TITAN_V2_DIMENSIONS}" if v2 else model_id  # stored with each embedding

    @cached_property
    def _client(self) -> BedrockRuntimeClient:
        if self._patient:
            config = Config(retries={"mode": "adaptive", "max_attempts": 6}, connect_timeout=5, read_timeout=30)
        else:
            config = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=1, read_timeout=2)
        return boto3.client("bedrock-runtime", region_name=self._region, config=config)

    def _request(self, text: str, query: bool) -> dict[str, Any]:
        text = text[:_MAX_INPUT_CHARS] or " "
        if self._model_id.startswith("cohere."):
            return {"texts": [text], "input_type": "search_query" if query else "search_document", "truncate": "END"}
        if self._model_id.startswith("amazon.titan-embed-text-v2"):
            return {"inputText": text, "dimensions": TITAN_V2_DIMENSIONS, "normalize": True}
        return {"inputText": text}

    def embed(self, text: str, *, query: bool) -> list[float]:
        try:
            response = self._client.invoke_model(
                modelId=self._model_id,
                body=json.dumps(self._request(text, query)),
                contentType="application/json",
                accept="application/json",
            )
            payload = json.loads(response["body"].read())
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise ModelUnavailableError(f"Bedrock model {self._model_id} failed: {exc}") from exc
        vector = payload["embeddings"][0] if "embeddings" in payload else payload.get("embedding")
        if not vector:
            raise ModelUnavailableError(f"Bedrock model {self._model_id} returned no embedding")
        return [float(x) for x in vector]
