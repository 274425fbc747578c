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
    StoredMessage,
    Summary,
    Window,
)
from chat_memory.domain.ports import MemoryStore, TokenCounter
from chat_memory.domain.retention import check_session_retention
from chat_memory.service.ranking import Doc, rank


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
        *,
        retention_days: int = 0,
    ) -> list[AddedMessage]:
        """`retention_days`: the tenant's period, for a session whose metadata sets none (0: for ever)."""
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
        check_session_retention(metadata)
        counted = [CountedMessage(m, self.tokens.count(token_text(m))) for m in messages]
        return self.store.append_messages(
            tenant, session_id, counted, metadata, summary_instruction, retention_days=retention_days
        )


# summary_retriever: the summary most relevant to the words of the newest messages, this many of them.
_RETRIEVAL_QUERY_MESSAGES = 3


@dataclass(frozen=True, slots=True)
class GetMemory:
    store: MemoryStore
    default_window: int

    def __call__(
        self,
        tenant: str,
        session_id: str,
        memory_type: MemoryType,
        lastn: int | None,
        max_tokens: int | None = None,
    ) -> Memory:
        """The memory of `memory_type`: with `max_tokens`, its summary (if the type has one and it fits) and the
        newest messages that fit with it, at most `lastn` (without `lastn`: as many as fit, up to MAX_LASTN)."""
        if max_tokens is None:
            return self._memory(tenant, session_id, memory_type, lastn or self.default_window, None)
        _check_budget(max_tokens)
        memory = self._memory(tenant, session_id, memory_type, lastn or limits.MAX_LASTN, max_tokens)
        return _within(memory, max_tokens)

    def _memory(
        self, tenant: str, session_id: str, memory_type: MemoryType, limit: int, max_tokens: int | None
    ) -> Memory:
        window = self.store.read_window(tenant, session_id, limit, max_tokens)
        window = found(window, f"session {session_id!r}")
        cut = window.cut_by_budget
        if memory_type is MemoryType.PERPETUAL:
            # The summary, then what it does not cover.
            if window.summary is None:
                return Memory(messages=window.messages, truncated=cut)
            newer = [m for m in window.messages if m.ts > window.summary.recent_message_ts]
            return Memory(messages=newer, summary=window.summary, truncated=cut)
        summary = self._summary_before(tenant, session_id, window)
        if memory_type is MemoryType.SUMMARY_RETRIEVER:
            summary = self._most_relevant_summary(tenant, session_id, window) or summary
        return Memory(messages=window.messages, summary=summary, truncated=cut)

    def latest(self, tenant: str, session_id: str, lastn: int, max_tokens: int | None = None) -> Memory:
        """Zep 0.27's (API v1) memory with `lastn`: the newest `lastn` messages and the latest summary, whatever
        it covers (they may overlap); with `max_tokens`, cut to it as __call__ does."""
        _check_budget(max_tokens)
        window = found(self.store.read_window(tenant, session_id, lastn, max_tokens), f"session {session_id!r}")
        memory = Memory(messages=window.messages, summary=window.summary, truncated=window.cut_by_budget)
        return memory if max_tokens is None else _within(memory, max_tokens)

    def _summary_before(self, tenant: str, session_id: str, window: Window) -> Summary | None:
        """The newest summary that ends before the window's messages: no overlap (message_window)."""
        summary, messages = window.summary, window.messages
        if summary is None or not messages or summary.recent_message_ts < messages[0].ts:
            return summary
        return self.store.summary_before(tenant, session_id, messages[0].ts, window.first_ts)

    def _most_relevant_summary(self, tenant: str, session_id: str, window: Window) -> Summary | None:
        """summary_retriever: of the session's summary history, the one the ranker finds most relevant to the
        newest messages (their words); None when none shares a word with them."""
        history = self.store.summary_history(tenant, session_id) or []
        latest = " ".join(m.content for m in window.messages[-_RETRIEVAL_QUERY_MESSAGES:])
        docs = [Doc(s.uuid, s.content, "", s.ts // 1_000_000) for s in history]
        best = rank(latest, docs, 1, turns=False)
        if not best:
            return None
        return next(s for s in history if s.uuid == best[0][0].key)


def _check_budget(max_tokens: int | None) -> None:
    if max_tokens is not None and not 1 <= max_tokens <= limits.MAX_MEMORY_TOKENS:
        raise InvalidInputError(f"max_tokens must be 1 to {limits.MAX_MEMORY_TOKENS:,} (got {max_tokens})")


def _within(memory: Memory, max_tokens: int) -> Memory:
    """The summary if it fits, then the newest messages that fit with it (never part of one); what it used, and
    whether it left something out. The newest message alone may be over the budget: then no message at all."""
    summary = memory.summary if memory.summary and memory.summary.token_count <= max_tokens else None
    used = summary.token_count if summary else 0
    kept: list[StoredMessage] = []
    for message in reversed(memory.messages):
        if used + message.token_count > max_tokens:
            break
        kept.append(message)
        used += message.token_count
    left_out = len(kept) < len(memory.messages) or summary is not memory.summary
    return Memory(messages=kept[::-1], summary=summary, tokens=used, truncated=memory.truncated or left_out)


@dataclass(frozen=True, slots=True)
class DeleteMemory:
    store: MemoryStore

    def __call__(self, tenant: str, session_id: str) -> None:
        if not self.store.delete_session(tenant, session_id):
            raise NotFoundError(f"session {session_id!r} not found")
