"""Domain models: plain, immutable values."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

JsonObject = dict[str, Any]


class RoleType(StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    FUNCTION = "function"
    TOOL = "tool"
    NOROLE = "norole"


class SearchScope(StrEnum):
    MESSAGES = "messages"
    SUMMARY = "summary"


class MemoryType(StrEnum):
    MESSAGE_WINDOW = "message_window"
    PERPETUAL = "perpetual"
    SUMMARY_RETRIEVER = "summary_retriever"


def rfc3339_from_micros(micros: int) -> str:
    """`2023-05-16T21:59:11.057919Z`, computed in integers so no float rounding moves a timestamp."""
    return (_EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message as the caller sent it, validated; `uuid` is the caller's, if any."""

    role: str
    role_type: RoleType
    content: str
    metadata: JsonObject | None = None
    uuid: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    uuid: str
    ts: int  # microseconds since the epoch; unique and strictly increasing within a session
    role: str
    role_type: RoleType
    content: str
    token_count: int
    metadata: JsonObject | None = None

    @property
    def created_at(self) -> str:
        return rfc3339_from_micros(self.ts)


class _Timestamped:
    """created_at / updated_at in the API's format, from the stored microseconds."""

    __slots__ = ()
    created_ts: int
    updated_ts: int

    @property
    def created_at(self) -> str:
        return rfc3339_from_micros(self.created_ts)

    @property
    def updated_at(self) -> str:
        return rfc3339_from_micros(self.updated_ts)


@dataclass(frozen=True, slots=True)
class Session(_Timestamped):
    session_id: str
    uuid: str
    created_ts: int
    updated_ts: int
    user_id: str | None = None
    metadata: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class User(_Timestamped):
    user_id: str
    uuid: str
    created_ts: int
    updated_ts: int
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JsonObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A user update: given fields replace, metadata deep-merges."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: JsonObject | None = None


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: Iterator[StoredMessage]  # oldest first, read as they are taken (an answer takes what fits)
    total_count: int


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """Where a listing continues: after the item created at `ts` (microseconds) with id `id` (sessions, users), or
    after the message of timestamp `ts` (messages, whose `id` is empty)."""

    ts: int
    id: str = ""


@dataclass(frozen=True, slots=True)
class Start:
    """Where a page of a listing starts: after a position (a page token's), or skipping `offset` (Zep's cursor).
    `read_ahead` is how many the caller means to take."""

    read_ahead: int
    after: Position | None = None
    offset: int = 0


@dataclass(frozen=True, slots=True)
class Summary:
    """A running summary of a session's messages up to and including `recent_message_uuid`."""

    uuid: str
    ts: int  # when it was written
    content: str
    recent_message_uuid: str
    recent_message_ts: int  # the summary point: every message at or before it is covered
    token_count: int

    @property
    def created_at(self) -> str:
        return rfc3339_from_micros(self.ts)


@dataclass(frozen=True, slots=True)
class Memory:
    messages: list[StoredMessage]  # oldest first
    summary: Summary | None = None
    tokens: int | None = None  # with a token budget: the summary's and the messages' token counts together
    truncated: bool = False  # with a token budget: it left out messages (or the summary) that it would have had


@dataclass(frozen=True, slots=True)
class AddedMessage:
    uuid: str
    ts: int
    token_count: int
    updated: bool  # True when a caller's uuid already existed and the message was updated in place

    @property
    def created_at(self) -> str:
        return rfc3339_from_micros(self.ts)


def deep_merge(base: JsonObject, patch: JsonObject) -> JsonObject:
    """Zep's metadata merge: nested objects merge recursively, other values replace, no key is removed."""
    merged = dict(base)
    for key, value in patch.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged[key] = deep_merge(current, value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True, slots=True)
class CountedMessage:
    message: NewMessage
    token_count: int


@dataclass(frozen=True, slots=True)
class Window:
    """The newest messages of a live session, oldest first, with its current summary."""

    session: Session
    messages: list[StoredMessage]
    summary: Summary | None = None
    first_ts: int = 0  # this session's messages start here (older items belong to a deleted incarnation)
    # Read with a token budget: the read stopped at a message that would not fit (older ones were not read).
    cut_by_budget: bool = False


@dataclass(frozen=True, slots=True)
class SummaryState:
    """What the summariser needs to know of a live session."""

    first_ts: int
    summary: Summary | None  # the current summary of this incarnation
    version: int  # of the current summary item, 0 when there is none
    instruction: str | None


@dataclass(frozen=True, slots=True)
class ModelSummary:
    text: str
    input_tokens: int
    output_tokens: int


# A span of created_at (microseconds), inclusive at both ends; None: unbounded on that side.
Span = tuple[int | None, int | None]


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to find in a session: words (`text`), and or a filter on message metadata (a Zep JSONPath) and on
    `created_at` (microseconds, inclusive). `mmr_lambda` None: by relevance only; else maximal marginal relevance."""

    text: str = ""
    where: str | None = None
    start_ts: int | None = None
    end_ts: int | None = None
    scope: SearchScope = SearchScope.MESSAGES
    mmr_lambda: float | None = None
    limit: int = 10


@dataclass(frozen=True, slots=True)
class SearchHit:
    """A message or a summary found, with its relevance in (0, 1] (1: the best of this search)."""

    score: float
    message: StoredMessage | None = None
    summary: Summary | None = None


# -- semantic search --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Embedding:
    """A text's embedding as stored: the model that made it, and its unit vector's components as signed bytes
    (each component times 127, rounded: a quarter of the room of float32, cosines within about 1%)."""

    model: str
    vector: bytes


@dataclass(frozen=True, slots=True)
class SearchableMessage:
    """A message as search reads it: with its embedding, once the background embedder has made it."""

    message: StoredMessage
    embedding: Embedding | None = None


@dataclass(frozen=True, slots=True)
class WrittenMessage:
    """A message as the table's stream reports its write: what the embedder needs."""

    tenant: str
    session_id: str
    ts: int
    content: str
    embedded_by: str | None  # the model of the embedding the item already holds, if any
    stored_bytes: int  # the item's size as DynamoDB counts it
    written_at: float  # when DynamoDB wrote it (the stream's approximate time, seconds since the epoch)
