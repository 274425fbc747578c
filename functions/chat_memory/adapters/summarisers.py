"""Summary models behind the SummaryModel port: Amazon Bedrock (Converse) and an offline extractive one."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from botocore.config import Config

from chat_memory.adapters.bedrock import ConverseError, bedrock_client, converse
from chat_memory.domain.models import ModelSummary
from chat_memory.domain.ports import TokenCounter

if TYPE_CHECKING:
    from mypy_boto3_bedrock_runtime import BedrockRuntimeClient

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_MAX_LINE_CHARS = 240


class SummaryModelError(RuntimeError):
    """The model could not produce a summary (after its client's retries); the stream batch is retried."""


class ExtractiveSummaryModel:
    """Deterministic, offline: the previous summary's lines plus the first sentence of each new line, keeping the
    newest lines that fit in `max_tokens`. Used when no Bedrock model is configured."""

    name = "extractive"

    def __init__(self, tokens: TokenCounter, max_tokens: int) -> None:
        self._tokens = tokens
        self._max_tokens = max_tokens

    @staticmethod
    def _gist(line: str) -> str:
        role, sep, content = line.partition(": ")
        first = _SENTENCE_END.split(" ".join(content.split()), maxsplit=1)[0]
        if len(first) > _MAX_LINE_CHARS:
            first = first[: _MAX_LINE_CHARS - 1].rstrip() + "…"
        return f"{role}{sep}{first}" if sep else first

    def summarise(self, previous: str | None, lines: Sequence[str], instruction: str | None) -> ModelSummary:
        kept = (previous.splitlines() if previous else []) + [self._gist(line) for line in lines if line.strip()]
        budget = self._max_tokens
        selected: list[str] = []
        used = 0
        for line in reversed(kept):
            cost = self._tokens.count(line) + 1
            if used + cost > budget:
                break
            selected.append(line)
            used += cost
        text = "\n".join(reversed(selected))
        return ModelSummary(text=text, input_tokens=0, output_tokens=0)


SYSTEM_PROMPT = (
    "You maintain the running summary of a conversation between a user and an AI assistant. "
    "You are given the current summary (possibly empty) and the next lines of the conversation. "
    "Write the new summary: it must keep every fact, name, preference and decision from the current summary "
    "and add what the new lines say, in concise prose, in the third person. "
    "Reply with the summary text only, without any preamble."
)


def summary_prompt(previous: str | None, lines: Sequence[str], instruction: str | None) -> str:
    parts = [
        "<current_summary>",
        previous or "",
        "</current_summary>",
        "<new_lines>",
        *lines,
        "</new_lines>",
    ]
    if instruction:
        parts += ["<instruction>", instruction, "</instruction>"]
    return "\n".join(parts)


class BedrockSummaryModel:
    """Amazon Bedrock's Converse API; throttling and transient errors are retried by botocore (adaptive mode)."""

    name = "bedrock"

    def __init__(self, model_id: str, region: str | None, max_tokens: int) -> None:
        self._model_id = model_id
        self._region = region or None
        self._max_tokens = max_tokens

    @cached_property
    def _client(self) -> BedrockRuntimeClient:
        config = Config(retries={"mode": "adaptive", "max_attempts": 6}, connect_timeout=5, read_timeout=60)
        return bedrock_client(self._region, config)

    def summarise(self, previous: str | None, lines: Sequence[str], instruction: str | None) -> ModelSummary:
        prompt = summary_prompt(previous, lines, instruction)
        try:
            answer = converse(self._client, self._model_id, SYSTEM_PROMPT, prompt, self._max_tokens)
        except ConverseError as exc:
            raise SummaryModelError(str(exc)) from exc
        return ModelSummary(text=answer.text, input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)
