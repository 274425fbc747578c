"""Configuration from the environment, parsed once on first use (never at import time)."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SettingsError(RuntimeError):
    """The function's environment is misconfigured (a deployment error, not a caller's)."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=3, max_length=255)
    # W: the default number of messages in a memory window (Zep's default is 12).
    session_window: int = Field(default=12, ge=2, le=500)
    # How long one write may retry lost races before answering 503 (None: the store's default, well inside the
    # functions' timeout). Not set by the template: for local servers whose DynamoDB commits slowly (moto).
    write_retry_budget_seconds: float | None = Field(default=None, gt=0, le=900)
    # How long an Idempotency-Key's answer is replayed (seconds; then DynamoDB's TTL removes the record).
    idempotency_expiry_seconds: int = Field(default=86_400, ge=60, le=30 * 86_400)
    # The deployment's retention period in days (template parameter RetentionDays; 0: keep for ever), for tenants
    # without their own (the authorizer passes a tenant's own) and sessions without their own (session metadata).
    retention_days: int = Field(default=0, ge=0, le=36_500)


@cache
def get_settings() -> Settings:
    env = os.environ
    raw: dict[str, str] = {"table_name": env.get("TABLE_NAME", "")}
    if "SESSION_WINDOW" in env:
        raw["session_window"] = env["SESSION_WINDOW"]
    if env.get("WRITE_RETRY_BUDGET_SECONDS"):
        raw["write_retry_budget_seconds"] = env["WRITE_RETRY_BUDGET_SECONDS"]
    if env.get("RETENTION_DAYS"):
        raw["retention_days"] = env["RETENTION_DAYS"]
    if "IDEMPOTENCY_EXPIRY_SECONDS" in env:
        raw["idempotency_expiry_seconds"] = env["IDEMPOTENCY_EXPIRY_SECONDS"]
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"invalid function configuration: {exc}") from exc


PAGE_TOKEN_KEY_ENV = "PAGE_TOKEN_KEY"  # noqa: S105 - the variable's name, not a secret
_MIN_PAGE_TOKEN_KEY_CHARS = 32


@cache
def get_page_token_key() -> bytes:
    """The key that signs page tokens (template.yaml: the PageTokenSecret secret; `chat-memory serve`: its own)."""
    key = os.environ.get(PAGE_TOKEN_KEY_ENV, "")
    if len(key) < _MIN_PAGE_TOKEN_KEY_CHARS:
        raise SettingsError(f"{PAGE_TOKEN_KEY_ENV} must be a secret of at least {_MIN_PAGE_TOKEN_KEY_CHARS} characters")
    return key.encode()


class SummarySettings(BaseModel):
    """The summariser's configuration (perpetual memory)."""

    model_config = ConfigDict(frozen=True)

    # Amazon Bedrock model or inference profile id; empty: the offline extractive summariser.
    model_id: str = ""
    model_region: str = ""
    # Largest prompt of new lines per model call (cl100k tokens): longer backlogs are folded chunk by chunk.
    max_input_tokens: int = Field(default=4_000, ge=50, le=100_000)
    # Longest summary (model output tokens; the extractive summariser keeps its newest lines within it).
    max_summary_tokens: int = Field(default=512, ge=50, le=4_000)


@cache
def get_summary_settings() -> SummarySettings:
    env = os.environ
    names = {
        "model_id": "SUMMARY_MODEL_ID",
        "model_region": "SUMMARY_MODEL_REGION",
        "max_input_tokens": "SUMMARY_MAX_INPUT_TOKENS",
        "max_summary_tokens": "SUMMARY_MAX_TOKENS",
    }
    raw = {field: env[name] for field, name in names.items() if env.get(name)}
    try:
        return SummarySettings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"invalid summariser configuration: {exc}") from exc


# The Bedrock embedding models whose request and answer formats adapters/embedders.py speaks.
EMBEDDING_MODEL_FAMILIES = ("amazon.titan-embed-text-", "cohere.embed-")


class EmbeddingSettings(BaseModel):
    """Semantic search: the Bedrock embedding model (empty: lexical ranking only)."""

    model_config = ConfigDict(frozen=True)

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
