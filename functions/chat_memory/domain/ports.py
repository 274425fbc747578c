"""Ports: what the use cases need from the outside world."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from chat_memory.domain.models import AddedMessage, JsonObject, NewMessage, Session, StoredMessage


class TokenCounter(Protocol):
    def count(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class CountedMessage:
    message: NewMessage
    token_count: int


@dataclass(frozen=True, slots=True)
class Window:
    """The newest messages of a live session, oldest first."""

    session: Session
    messages: list[StoredMessage]


class MemoryStore(Protocol):
    def get_session(self, tenant: str, session_id: str) -> Session | None: ...

    def create_session(self, tenant: str, session_id: str, user_id: str | None, metadata: JsonObject) -> Session: ...

    def update_session(
        self, tenant: str, session_id: str, user_id: str | None, metadata_patch: JsonObject | None
    ) -> Session: ...

    def list_sessions(self, tenant: str, offset: int, limit: int) -> list[Session]: ...

    def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: Sequence[CountedMessage],
        metadata_patch: JsonObject | None,
        summary_instruction: str | None,
    ) -> list[AddedMessage]: ...

    def read_window(self, tenant: str, session_id: str, limit: int) -> Window | None: ...

    def delete_session(self, tenant: str, session_id: str) -> bool: ...
