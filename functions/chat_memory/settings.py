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
    # Tenant used until API keys exist; every key already starts with it.
    default_tenant: str = Field(default="default", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")


@cache
def get_settings() -> Settings:
    env = os.environ
    raw: dict[str, str] = {"table_name": env.get("TABLE_NAME", "")}
    if "SESSION_WINDOW" in env:
        raw["session_window"] = env["SESSION_WINDOW"]
    if "DEFAULT_TENANT" in env:
        raw["default_tenant"] = env["DEFAULT_TENANT"]
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise SettingsError(f"invalid function configuration: {exc}") from exc
