"""Use cases of sessions: create, read, update, list."""

from __future__ import annotations

from dataclasses import dataclass

from chat_memory.domain.errors import NotFoundError
from chat_memory.domain.models import JsonObject, Session
from chat_memory.domain.ports import MemoryStore


@dataclass(frozen=True, slots=True)
class Sessions:
    store: MemoryStore

    def create(self, tenant: str, session_id: str, user_id: str | None, metadata: JsonObject | None) -> Session:
        return self.store.create_session(tenant, session_id, user_id, metadata or {})

    def get(self, tenant: str, session_id: str) -> Session:
        session = self.store.get_session(tenant, session_id)
        if session is None:
            raise NotFoundError(f"session {session_id!r} not found")
        return session

    def update(self, tenant: str, session_id: str, user_id: str | None, metadata: JsonObject | None) -> Session:
        return self.store.update_session(tenant, session_id, user_id, metadata)

    def list(self, tenant: str, offset: int, limit: int) -> list[Session]:
        return self.store.list_sessions(tenant, offset, limit)
