"""Configuration from the environment, parsed once on first use (never at import time)."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TypeVar

# Plain dataclasses, not pydantic: every function reads its settings on its first invocation, the authorizer
# included, and pydantic's import would add about a third of boto3's to each cold start.

N = TypeVar("N", int, float)


class SettingsError(RuntimeError):
    """The function's environment is misconfigured (a deployment error, not a caller's)."""


def _number(env: Mapping[str, str], name: str, field: str, parse: Callable[[str], N], bounds: tuple[N, N]) -> N | None:
    """The variable `name` as a number within `bounds` (inclusive; a float's low bound exclusive), None when unset
    or empty; SettingsError naming `field` otherwise."""
    raw = env.get(name, "")
    if not raw:
        return None
    low, high = bounds
    try:
        value = parse(raw)
    except ValueError:
        raise SettingsError(f"invalid function configuration: {field} ({name}) must be a number, not {raw!r}") from None
    above = value > low if isinstance(low, float) else value >= low
    if not (above and value <= high):  # NaN too
        raise SettingsError(f"invalid function configuration: {field} ({name}) must be within {low} and {high}")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    table_name: str
    # W: the default number of messages in a memory window (Zep's default is 12).
    session_window: int = 12
    # How long one write may retry lost races before answering 503 (None: the store's default, well inside the
    # functions' timeout). Not set by the template: for local servers whose DynamoDB commits slowly (moto).
    write_retry_budget_seconds: float | None = None
    # How long an Idempotency-Key's answer is replayed (seconds; then DynamoDB's TTL removes the record).
    idempotency_expiry_seconds: int = 86_400
    # The deployment's retention period in days (template parameter RetentionDays; 0: keep for ever), for tenants
    # without their own (the authorizer passes a tenant's own) and sessions without their own (session metadata).
    retention_days: int = 0


_MIN_TABLE_NAME, _MAX_TABLE_NAME = 3, 255


@cache
def get_settings() -> Settings:
    env = os.environ
    table_name = env.get("TABLE_NAME", "")
    if not _MIN_TABLE_NAME <= len(table_name) <= _MAX_TABLE_NAME:
        raise SettingsError("invalid function configuration: table_name (TABLE_NAME) must be 3 to 255 characters")
    window = _number(env, "SESSION_WINDOW", "session_window", int, (2, 500))
    expiry = _number(env, "IDEMPOTENCY_EXPIRY_SECONDS", "idempotency_expiry_seconds", int, (60, 30 * 86_400))
    return Settings(
        table_name=table_name,
        session_window=12 if window is None else window,
        write_retry_budget_seconds=_number(
            env, "WRITE_RETRY_BUDGET_SECONDS", "write_retry_budget_seconds", float, (0.0, 900.0)
        ),
        idempotency_expiry_seconds=86_400 if expiry is None else expiry,
        retention_days=_number(env, "RETENTION_DAYS", "retention_days", int, (0, 36_500)) or 0,
    )


PAGE_TOKEN_KEY_ENV = "PAGE_TOKEN_KEY"  # noqa: S105 - the variable's name, not a secret
_MIN_PAGE_TOKEN_KEY_CHARS = 32


@cache
def get_page_token_key() -> bytes:
    """The key that signs page tokens (template.yaml: the PageTokenSecret secret; `chat-memory serve`: its own)."""
    key = os.environ.get(PAGE_TOKEN_KEY_ENV, "")
    if len(key) < _MIN_PAGE_TOKEN_KEY_CHARS:
        raise SettingsError(f"{PAGE_TOKEN_KEY_ENV} must be a secret of at least {_MIN_PAGE_TOKEN_KEY_CHARS} characters")
    return key.encode()


@dataclass(frozen=True, slots=True)
class SummarySettings:
    """The summariser's configuration (perpetual memory)."""

    # Amazon Bedrock model or inference profile id; empty: the offline extractive summariser.
    model_id: str = ""
    model_region: str = ""
    # Largest prompt of new lines per model call (cl100k tokens): longer backlogs are folded chunk by chunk.
    max_input_tokens: int = 4_000
    # Longest summary (model output tokens; the extractive summariser keeps its newest lines within it).
    max_summary_tokens: int = 512


@cache
def get_summary_settings() -> SummarySettings:
    env = os.environ
    max_input = _number(env, "SUMMARY_MAX_INPUT_TOKENS", "max_input_tokens", int, (50, 100_000))
    max_summary = _number(env, "SUMMARY_MAX_TOKENS", "max_summary_tokens", int, (50, 4_000))
    return SummarySettings(
        model_id=env.get("SUMMARY_MODEL_ID", ""),
        model_region=env.get("SUMMARY_MODEL_REGION", ""),
        max_input_tokens=4_000 if max_input is None else max_input,
        max_summary_tokens=512 if max_summary is None else max_summary,
    )


# The Bedrock embedding models whose request and answer formats adapters/embedders.py speaks.
EMBEDDING_MODEL_FAMILIES = ("amazon.titan-embed-text-", "cohere.embed-")


@dataclass(frozen=True, slots=True)
class EmbeddingSettings:
    """Semantic search: the Bedrock embedding model (empty: lexical ranking only)."""

    model_id: str = ""
    model_region: str = ""


@cache
def get_embedding_settings() -> EmbeddingSettings:
    env = os.environ
    settings = EmbeddingSettings(
        model_id=env.get("EMBEDDING_MODEL_ID", ""), model_region=env.get("EMBEDDING_MODEL_REGION", "")
    )
    if settings.model_id and not settings.model_id.startswith(EMBEDDING_MODEL_FAMILIES):
        raise SettingsError(
            f"EMBEDDING_MODEL_ID {settings.model_id!r} is not an embedding model this service calls: one of "
            f"{', '.join(f + '...' for f in EMBEDDING_MODEL_FAMILIES)}"
        )
    return settings
