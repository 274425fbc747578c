"""Use cases of memory: add messages, read the window, delete a session's memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError, NotFoundError, PayloadTooLargeError, found
from chat_memory.domain.models import (
    AddedMessage,
    CountedMessage,
    JsonObject,
    Memory,
    MemoryType,
    NewMessage,
)
from chat_memory.domain.ports import MemoryStore, TokenCounter


def token_text(message: NewMessage) -> str:
    """Zep's formula: tokens of "{role_type}: {content}"."""
    return f"{message.role_type.value}: {message.content}"


@dataclass(frozen=True, slots=True)
class AddMemory:
    store: MemoryStore
    tokens: TokenCounter

    def __call__(
        self,
        tenant: str,
        session_id: str,
        messages: Sequence[NewMessage],
        metadata: JsonObject | None = None,
        summary_instruction: str | None = None,
    ) -> list[AddedMessage]:
        if not messages and metadata is None and summary_instruction is None:
            raise InvalidInputError("memory must contain at least one message")
        if len(messages) > limits.MAX_MESSAGES_PER_REQUEST:
            raise PayloadTooLargeError(
                f"at most {limits.MAX_MESSAGES_PER_REQUEST} messages per request "
                f"(got {len(messages)}); send them in several requests"
            )
        uuids = [m.uuid for m in messages if m.uuid is not None]
        if len(set(uuids)) != len(uuids):
            raise InvalidInputError("two messages of one request carry the same uuid")
        total = sum(len(m.content.encode()) + len(m.role.encode()) for m in messages)
        if total > limits.MAX_REQUEST_MESSAGE_BYTES:
            raise PayloadTooLargeError(
                f"the messages of one request may hold at most {limits.MAX_REQUEST_MESSAGE_BYTES} bytes "
                f"of content (got {total}); send them in several requests"
            )
        counted = [CountedMessage(m, self.tokens.count(token_text(m))) for m in messages]
        return self.store.append_messages(tenant, session_id, counted, metadata, summary_instruction)


@dataclass(frozen=True, slots=True)
class GetMemory:
    store: MemoryStore
    default_window: int

    def __call__(self, tenant: str, session_id: str, memory_type: MemoryType, lastn: int | None) -> Memory:
        window = found(
            self.store.read_window(tenant, session_id, lastn or self.default_window), f"session {session_id!r}"
        )
        messages = window.messages
        summary = window.summary
        if memory_type is MemoryType.MESSAGE_WINDOW:
            # The newest messages, and the newest summary that ends before them: no overlap.
            oldest = messages[0].ts if messages else None
            if summary is not None and oldest is not None and summary.recent_message_ts >= oldest:
                summary = self.store.summary_before(tenant, session_id, oldest, window.first_ts)
        elif summary is not None:
            # perpetual (and summary_retriever until search exists): the summary, then what it does not cover.
            messages = [m for m in messages if m.ts > summary.recent_message_ts]
        return Memory(messages=messages, summary=summary)


@dataclass(frozen=True, slots=True)
class DeleteMemory:
    store: MemoryStore

    def __call__(self, tenant: str, session_id: str) -> None:
        if not self.store.delete_session(tenant, session_id):
            raise NotFoundError(f"session {session_id!r} not found")
