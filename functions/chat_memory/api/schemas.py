"""Request bodies (validated at the edge with pydantic) and the JSON shapes of responses."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from chat_memory.api.paging import newest_fitting, response_bytes
from chat_memory.domain import limits
from chat_memory.domain.models import (
    JsonObject,
    Memory,
    NewMessage,
    RoleType,
    Session,
    StoredMessage,
    Summary,
    User,
    UserChanges,
)


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


class _Request(BaseModel):
    # Zep clients send read-only fields back (created_at, token_count, ...): they are ignored, not errors.
    model_config = ConfigDict(extra="ignore")


class MessageRequest(_Request):
    role: str = Field(default="", max_length=limits.MAX_ROLE_CHARS)
    role_type: RoleType | None = Field(default=None, description="Absent or null: stored as `norole`.")
    content: Annotated[str, AfterValidator(_valid_content), Field(json_schema_extra={"pattern": "^[^\\x00]*$"})]
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


# -- responses -------------------------------------------------------------------------------------------


def message_json(message: StoredMessage) -> JsonObject:
    body: JsonObject = {
        "uuid": message.uuid,
        "created_at": message.created_at,
        "role": message.role,
        "role_type": message.role_type.value,
        "content": message.content,
        "token_count": message.token_count,
    }
    if message.metadata is not None:
        body["metadata"] = message.metadata
    return body


def summary_json(summary: Summary) -> JsonObject:
    return {
        "uuid": summary.uuid,
        "created_at": summary.created_at,
        "content": summary.content,
        "recent_message_uuid": summary.recent_message_uuid,
        "token_count": summary.token_count,
    }


def memory_json(memory: Memory) -> JsonObject:
    """The memory, its oldest messages left out where the answer would not fit one Lambda response."""
    summary = summary_json(memory.summary) if memory.summary else None
    room = limits.MAX_RESPONSE_BYTES - response_bytes({"messages": [], "summary": summary})
    return {"messages": newest_fitting(memory.messages, message_json, room), "summary": summary}


def session_json(session: Session) -> JsonObject:
    body: JsonObject = {
        "session_id": session.session_id,
        "uuid": session.uuid,
        "created_at": session.created_at,
        "updated_at": session.updated_at,
        "metadata": session.metadata,
    }
    if session.user_id is not None:
        body["user_id"] = session.user_id
    return body


def message_page_json(messages: list[JsonObject], total_count: int) -> JsonObject:
    return {"messages": messages, "total_count": total_count, "row_count": len(messages)}


def user_json(user: User) -> JsonObject:
    body: JsonObject = {
        "user_id": user.user_id,
        "uuid": user.uuid,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
        "metadata": user.metadata,
    }
    for name in ("email", "first_name", "last_name"):
        value = getattr(user, name)
        if value is not None:
            body[name] = value
    return body


# -- response models: the documented shapes of the JSON above (OpenAPI). Tests hold the shapers to them. ---------


# Optional keys of a response are left out, never sent as null: documented as their type, not as nullable.
_OmittedText = Annotated[str | None, WithJsonSchema({"type": "string"})]
_OmittedObject = Annotated[JsonObject | None, WithJsonSchema({"type": "object", "additionalProperties": True})]


class _Response(BaseModel):
    # Closed shapes: a field added to a shaper but not here fails the tests and the fuzzer's conformance check.
    model_config = ConfigDict(extra="forbid")


class MessageBody(_Response):
    uuid: UUID
    created_at: datetime = Field(description="When the message was accepted (RFC 3339, UTC, microseconds).")
    role: str = Field(description="Free text: a person's or a bot's name.")
    role_type: RoleType
    content: str
    token_count: int = Field(ge=0, description="cl100k_base tokens of `{role_type}: {content}`.")
    metadata: _OmittedObject = Field(default=None, description="Omitted when the message has none.")


class SummaryBody(_Response):
    uuid: UUID
    created_at: datetime
    content: str
    recent_message_uuid: UUID = Field(description="The newest message the summary covers.")
    token_count: int = Field(ge=0)


class MemoryBody(_Response):
    messages: list[MessageBody] = Field(description="Oldest first.")
    summary: SummaryBody | None


class SessionBody(_Response):
    session_id: str
    uuid: UUID
    created_at: datetime
    updated_at: datetime
    metadata: JsonObject
    user_id: _OmittedText = Field(default=None, description="Omitted when the session belongs to no user.")


class MessagePageBody(_Response):
    messages: list[MessageBody] = Field(description="Oldest first; page 1 holds the first messages.")
    total_count: int = Field(ge=0, description="Messages in the session.")
    row_count: int = Field(ge=0, description="Messages on this page.")


class UserBody(_Response):
    user_id: str
    uuid: UUID
    created_at: datetime
    updated_at: datetime
    metadata: JsonObject
    email: _OmittedText = Field(default=None, description="Omitted when not set.")
    first_name: _OmittedText = Field(default=None, description="Omitted when not set.")
    last_name: _OmittedText = Field(default=None, description="Omitted when not set.")


class AddedMessageBody(_Response):
    uuid: UUID
    created_at: datetime
    token_count: int = Field(ge=0)


class AddMemoryBody(_Response):
    message: Literal["OK"]
    session_id: str
    messages: list[AddedMessageBody] = Field(description="The request's messages, in its order.")


class OkBody(_Response):
    message: Literal["OK"]


class FieldErrorBody(_Response):
    location: str = Field(description="Where in the request, e.g. `body.messages.0.content`.")
    message: str


class ErrorBody(_Response):
    message: str = Field(description="What is wrong, for a person.")
    errors: list[FieldErrorBody] = Field(default_factory=list, description="Validation errors, one per field.")
