"""Request bodies (validated at the edge with pydantic) and the JSON shapes of responses."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from chat_memory.domain import limits
from chat_memory.domain.models import (
    JsonObject,
    NewMessage,
    RoleType,
    SearchQuery,
    SearchScope,
    UserChanges,
)
from chat_memory.domain.retention import DeletionReason


def _check_json_value(value: Any, depth: int) -> None:
    if depth > limits.MAX_METADATA_DEPTH:
        raise ValueError(f"metadata is nested deeper than {limits.MAX_METADATA_DEPTH} levels")
    if isinstance(value, dict):
        for item in value.values():
            _check_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json_value(item, depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("metadata numbers must be finite (no NaN or Infinity)")


def _valid_metadata(value: JsonObject | None) -> JsonObject | None:
    if value is None:
        return None
    _check_json_value(value, 1)
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limits.MAX_METADATA_BYTES:
        raise ValueError(f"metadata is {size} bytes as JSON; the limit is {limits.MAX_METADATA_BYTES}")
    return value


def valid_id(value: str) -> str:
    """Session and user ids: 1 to 256 characters, no control characters."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > limits.MAX_ID_CHARS:
        raise ValueError(f"must be at most {limits.MAX_ID_CHARS} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValueError("must not contain control characters")
    return value


def _valid_content(value: str) -> str:
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > limits.MAX_CONTENT_BYTES:
        raise ValueError(f"content is {size} bytes; the limit is {limits.MAX_CONTENT_BYTES} (UTF-8)")
    if "\x00" in value:
        raise ValueError("content must not contain NUL characters")
    return value


# The same rules as JSON Schema patterns, for the OpenAPI description (tests hold them to the functions).
BODY_ID_PATTERN = "^(?!\\.\\.?$)[^\\x00-\\x1f\\x7f/?#+\\ufffd]+$"
# In a path, `+` is a space (zep-python's quote_plus): only the characters a decoded path cannot carry are out.
PATH_ID_PATTERN = "^(?!\\.\\.?$)[^\\x00-\\x1f\\x7f/?#\\ufffd]+$"
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def path_safe_id(value: str) -> str:
    """Ids created in a body must be reachable in a path later. API Gateway decodes the path before routing,
    so `/` splits it, `?` and `#` cut it, and an encoded `+` cannot be told apart from an encoded space."""
    valid_id(value)
    bad = sorted({c for c in value if c in "/?#+"})
    if bad:
        raise ValueError(f"must not contain {' '.join(repr(c) for c in bad)}: such ids cannot be used in URL paths")
    _travels_in_a_path(value)
    return value


def _travels_in_a_path(value: str) -> None:
    """What no character rule catches: HTTP clients drop `.` and `..` segments (RFC 3986 dot segments), and U+FFFD
    is what an invalid UTF-8 byte in a percent-encoded path decodes to (so `%ff` and `%fe` would be one id)."""
    if value in (".", ".."):
        raise ValueError(f"must not be {value!r}: HTTP clients remove such path segments")
    if "\ufffd" in value:
        raise ValueError("must not contain U+FFFD, what invalid UTF-8 in a URL decodes to")


Metadata = Annotated[JsonObject | None, AfterValidator(_valid_metadata)]
Identifier = Annotated[
    str,
    AfterValidator(path_safe_id),
    Field(json_schema_extra={"pattern": BODY_ID_PATTERN, "minLength": 1, "maxLength": limits.MAX_ID_CHARS}),
]

# A message's content: at most MAX_CONTENT_BYTES of UTF-8, no NUL.
Content = Annotated[str, AfterValidator(_valid_content), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})]


# Every model here is `defer_build=True`: pydantic builds its validator and serializer on first use (Powertools
# builds a route's TypeAdapters when the route first serves), not at import. A cold start then builds only what
# its first request's route uses (the memory read: MemoryBody, MessageBody, SummaryBody), not every model of the
# API (paired, that is 0.1-0.2x of the cold-start floor). Validation is the same; only its build moves. The
# OpenAPI tests build every model, so a model that could not be built still fails there, not in production.
class _Request(BaseModel):
    # Zep clients send read-only fields back (created_at, token_count, ...): they are ignored, not errors.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class MessageRequest(_Request):
    role: str = Field(default="", max_length=limits.MAX_ROLE_CHARS)
    role_type: RoleType | None = Field(default=None, description="Absent or null: stored as `norole`.")
    content: Content
    uuid: UUID | None = Field(default=None, description="A uuid already in the session updates that message.")
    metadata: Metadata = None

    def to_domain(self) -> NewMessage:
        return NewMessage(
            role=self.role,
            role_type=self.role_type or RoleType.NOROLE,
            content=self.content,
            metadata=self.metadata,
            uuid=str(self.uuid) if self.uuid is not None else None,
        )


class AddMemoryRequest(_Request):
    messages: list[MessageRequest] = Field(
        default_factory=list,
        description=(
            "Stored together or not at all, in this order. May be empty only when `metadata` or "
            "`summary_instruction` is given (a session update)."
        ),
        json_schema_extra={"maxItems": limits.MAX_MESSAGES_PER_REQUEST},
    )
    metadata: Metadata = None
    summary_instruction: str | None = Field(default=None, max_length=limits.MAX_SUMMARY_INSTRUCTION_CHARS)


class CreateSessionRequest(_Request):
    session_id: Identifier
    user_id: Identifier | None = None
    metadata: Metadata = None


class UpdateSessionRequest(_Request):
    session_id: str | None = None
    user_id: Identifier | None = None
    metadata: Metadata = None


class UpdateMessageMetadataRequest(_Request):
    metadata: Annotated[JsonObject, AfterValidator(_valid_metadata)]


_Name = Annotated[str | None, Field(default=None, max_length=limits.MAX_ROLE_CHARS)]


class CreateUserRequest(_Request):
    user_id: Identifier
    email: _Name = None
    first_name: _Name = None
    last_name: _Name = None
    metadata: Metadata = None


class UpdateUserRequest(_Request):
    user_id: str | None = None
    email: _Name = None
    first_name: _Name = None
    last_name: _Name = None
    metadata: Metadata = None

    def to_domain(self) -> UserChanges:
        return UserChanges(
            email=self.email, first_name=self.first_name, last_name=self.last_name, metadata=self.metadata
        )


_ClassName = Annotated[str, Field(min_length=1, max_length=limits.MAX_CLASS_CHARS)]


class ClassifySessionRequest(_Request):
    session_id: str | None = Field(default=None, description="If given, the session id of the path (rc6 sends it).")
    name: _ClassName = Field(description="The classification's name: its key in `metadata.system.classes`.")
    classes: list[_ClassName] = Field(
        min_length=1,
        max_length=limits.MAX_CLASSES,
        description="The classes to choose from, each once (case and spacing ignored); the answer is one of them "
        'or "other".',
    )
    last_n: int | None = Field(
        default=None,
        ge=1,
        le=limits.MAX_LASTN,
        description=f"How many of the newest messages (absent: {limits.DEFAULT_CLASSIFY_LAST_N}).",
    )
    persist: bool | None = Field(
        default=None, description="Keep the result in the session's metadata.system.classes.<name> (absent: true)."
    )
    instruction: str | None = Field(default=None, max_length=limits.MAX_SUMMARY_INSTRUCTION_CHARS)


class WhereClause(BaseModel):
    # Closed: a filter this API does not read must be refused, never ignored (it would widen the search).
    model_config = ConfigDict(extra="forbid", defer_build=True)
    jsonpath: str = Field(
        min_length=1, max_length=4_000, description='Zep\'s filter on message metadata, e.g. `$[*] ? (@.foo == "bar")`.'
    )


def _text_only(value: Any) -> Any:
    # pydantic would also read a number as seconds since 1970: the contract is an RFC 3339 string.
    if value is not None and not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    return value


_DateTime = Annotated[datetime | None, BeforeValidator(_text_only)]


class SearchMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)
    where: WhereClause | None = None
    start_date: _DateTime = Field(default=None, description="Messages created at or after (RFC 3339).")
    end_date: _DateTime = Field(default=None, description="Messages created at or before (RFC 3339).")


class SearchRequest(_Request):
    text: str | None = Field(default=None, max_length=limits.MAX_SUMMARY_INSTRUCTION_CHARS)
    metadata: SearchMetadata | None = None
    search_scope: SearchScope | None = Field(default=None, description="Absent: messages.")
    search_type: Literal["similarity", "mmr"] | None = Field(default=None, description="Absent: similarity.")
    mmr_lambda: float | None = Field(default=None, ge=0, le=1, description="With mmr: weight of relevance (0.5).")

    def to_domain(self, limit: int) -> SearchQuery:
        dates = self.metadata or SearchMetadata()
        return SearchQuery(
            text=self.text or "",
            where=dates.where.jsonpath if dates.where else None,
            start_ts=_micros(dates.start_date),
            end_ts=_micros(dates.end_date),
            scope=self.search_scope or SearchScope.MESSAGES,
            mmr_lambda=(0.5 if self.mmr_lambda is None else self.mmr_lambda) if self.search_type == "mmr" else None,
            limit=limit,
        )


def _micros(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)  # no offset: UTC
    return int(aware.timestamp() * 1_000_000)


# -- responses: the documented shapes, validated from the domain's objects ---------------------------------------


def _absent(value: Any) -> bool:
    return value is None


# Optional keys of a response are left out, never sent as null: documented as their type, not as nullable.
_OmittedText = Annotated[str | None, WithJsonSchema({"type": "string"}), Field(default=None, exclude_if=_absent)]
_OmittedObject = Annotated[
    JsonObject | None,
    WithJsonSchema({"type": "object", "additionalProperties": True}),
    Field(default=None, exclude_if=_absent),
]
# Sent as the domain formats them (RFC 3339 with microseconds; canonical uuids), documented as what they are.
_Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
_Uuid = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]


class _Response(BaseModel):
    # Closed shapes, read from the domain's objects by attribute (`model_validate(session)`).
    model_config = ConfigDict(extra="forbid", from_attributes=True, defer_build=True)


class MessageBody(_Response):
    uuid: _Uuid
    created_at: _Timestamp = Field(description="When the message was accepted (RFC 3339, UTC, microseconds).")
    role: str = Field(description="Free text: a person's or a bot's name.")
    role_type: RoleType
    content: str
    token_count: int = Field(ge=0, description="cl100k_base tokens of `{role_type}: {content}`.")
    metadata: _OmittedObject = Field(description="Omitted when the message has none.")


class SummaryBody(_Response):
    uuid: _Uuid
    created_at: _Timestamp
    content: str
    recent_message_uuid: _Uuid = Field(description="The newest message the summary covers.")
    token_count: int = Field(ge=0)


class MemoryBody(_Response):
    messages: list[MessageBody] = Field(description="Oldest first.")
    summary: SummaryBody | None


class SessionBody(_Response):
    session_id: str
    uuid: _Uuid
    created_at: _Timestamp
    updated_at: _Timestamp
    metadata: JsonObject
    user_id: _OmittedText = Field(description="Omitted when the session belongs to no user.")


class DeletionBody(_Response):
    """A deletion receipt: what was deleted, when and why; never any content or metadata."""

    session_id: str
    deleted_at: _Timestamp = Field(
        description="When the session became unreadable (the DELETE, or the end of its retention period)."
    )
    items_deleted: int = Field(ge=0, description="Items the purge deleted: messages, summaries, the session item.")
    reason: DeletionReason = Field(
        description="`delete` (DELETE .../memory), `user_delete` (the user was deleted) or `retention` (its "
        "retention period passed)."
    )


class MessagePageBody(_Response):
    messages: list[MessageBody] = Field(description="Oldest first; page 1 holds the first messages.")
    total_count: int = Field(ge=0, description="Messages in the session.")
    row_count: int = Field(ge=0, description="Messages on this page.")


class UserBody(_Response):
    user_id: str
    uuid: _Uuid
    created_at: _Timestamp
    updated_at: _Timestamp
    metadata: JsonObject
    email: _OmittedText = Field(description="Omitted when not set.")
    first_name: _OmittedText = Field(description="Omitted when not set.")
    last_name: _OmittedText = Field(description="Omitted when not set.")


class AddedMessageBody(_Response):
    uuid: _Uuid
    created_at: _Timestamp
    token_count: int = Field(ge=0)


class AddMemoryBody(_Response):
    message: Literal["OK"]
    session_id: str
    messages: list[AddedMessageBody] = Field(description="The request's messages, in its order.")


class SearchResultBody(_Response):
    message: MessageBody | None = None
    summary: SummaryBody | None = None
    metadata: JsonObject | None = Field(default=None, description="The message's metadata.")
    score: float = Field(ge=0, le=1, description="Relevance: 1 for the best result (zep-python 2 reads this).")
    dist: float = Field(ge=0, le=1, description="The same relevance, as Zep 0.27 clients read it.")


class QuestionBody(_Response):
    question: str = Field(description="One standalone question carrying what the newest messages ask about.")


class ClassifySessionBody(_Response):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)
    name: str
    class_: str = Field(alias="class", description='One of the classes sent, or "other" when none fits.')


class V1SearchResultBody(_Response):
    """API v1 (Zep 0.27): the relevance is `dist` alone."""

    message: MessageBody | None = None
    summary: SummaryBody | None = None
    metadata: JsonObject | None = Field(default=None, description="The message's metadata.")
    dist: float = Field(ge=0, le=1, description="Relevance: 1 for the best result.")


class OkBody(_Response):
    message: Literal["OK"]


class FieldErrorBody(_Response):
    location: str = Field(description="Where in the request, e.g. `body.messages.0.content`.")
    message: str


class ErrorBody(_Response):
    message: str = Field(description="What is wrong, for a person.")
    errors: list[FieldErrorBody] = Field(default_factory=list, description="Validation errors, one per field.")
