"""An API key as the authorizer reads it: apart from models.py, so that the authorizer's cold start does not
build every model of the domain."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """An API key as stored: never the key itself, only its SHA-256."""

    key_id: str  # public: shown in listings, used to revoke
    tenant: str
    name: str
    created_ts: int
    revoked: bool = False

    @property
    def created_at(self) -> str:
        from chat_memory.domain.models import rfc3339_from_micros  # listings only (the admin CLI)

        return rfc3339_from_micros(self.created_ts)
