"""The export format, version 1: JSON Lines, one object a line, each with its `type`.

`format` (first), every `user`, then per session: `session`, its `message`s oldest first, its `summary`s (the
current one, then the history), `session_end` (counts: a session is complete only with it); `end` (last).
Timestamps are RFC 3339 in UTC to the microsecond (`2026-12-04T18:05:00.123456Z`), exactly as stored.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chat_memory.adapters.dynamodb.items import SessionRecord
from chat_memory.api.schemas import UUID_PATTERN, Content, Identifier, Metadata
from chat_memory.domain import limits
from chat_memory.domain.models import JsonObject, RoleType, Session, StoredMessage, Summary, User, rfc3339_from_micros
from chat_memory_dev.cli_aws import CliError

VERSION: Final = 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class FormatError(CliError):
    """A line that is not what the format says (its line number first)."""


def micros(timestamp: str) -> int:
    """Microseconds since the epoch of a timestamp of the format (integers only: nothing rounds)."""
    parsed = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(microseconds=1)


def _valid_timestamp(value: str) -> str:
    if not _TIMESTAMP.match(value):
        raise ValueError("expected an RFC 3339 UTC time to the microsecond, e.g. 2026-12-04T18:05:00.123456Z")
    try:
        micros(value)
    except ValueError as exc:
        raise ValueError(f"not a valid time: {exc}") from None
    return value


Timestamp = Annotated[str, AfterValidator(_valid_timestamp)]
Uuid = Annotated[str, Field(pattern=UUID_PATTERN)]
Count = Annotated[int, Field(ge=0)]


class _Line(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FormatLine(_Line):
    type: Literal["format"] = "format"
    version: Literal[1] = VERSION
    tenant: str
    session_id: str | None = None  # an export of one session (--session)


class UserLine(_Line):
    type: Literal["user"] = "user"
    user_id: Identifier
    uuid: Uuid
    created_at: Timestamp
    updated_at: Timestamp
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    metadata: Metadata = None

    def to_domain(self) -> User:
        return User(
            self.user_id, self.uuid, micros(self.created_at), micros(self.updated_at), self.email, self.first_name,
            self.last_name, self.metadata or {},
        )  # fmt: skip


class SessionLine(_Line):
    type: Literal["session"] = "session"
    session_id: Identifier
    uuid: Uuid
    created_at: Timestamp
    updated_at: Timestamp
    user_id: Identifier | None = None
    metadata: Metadata = None
    summary_instruction: str | None = Field(default=None, max_length=limits.MAX_SUMMARY_INSTRUCTION_CHARS)

    def to_domain(self) -> Session:
        created, updated = micros(self.created_at), micros(self.updated_at)
        return Session(self.session_id, self.uuid, created, updated, self.user_id, self.metadata or {})


class MessageLine(_Line):
    type: Literal["message"] = "message"
    uuid: Uuid
    created_at: Timestamp
    role: str = Field(max_length=limits.MAX_ROLE_CHARS)
    role_type: RoleType
    content: Content
    metadata: Metadata = None
    token_count: Count

    def to_domain(self) -> StoredMessage:
        return StoredMessage(
            self.uuid, micros(self.created_at), self.role, self.role_type, self.content, self.token_count,
            self.metadata,
        )  # fmt: skip


class SummaryLine(_Line):
    type: Literal["summary"] = "summary"
    current: bool  # the session's current summary (it is in the history too)
    uuid: Uuid
    created_at: Timestamp
    content: str
    recent_message_uuid: Uuid
    recent_message_created_at: Timestamp  # the summary point: every message up to it is covered
    token_count: Count

    def to_domain(self) -> Summary:
        return Summary(
            self.uuid, micros(self.created_at), self.content, self.recent_message_uuid,
            micros(self.recent_message_created_at), self.token_count,
        )  # fmt: skip


class SessionEndLine(_Line):
    type: Literal["session_end"] = "session_end"
    session_id: str
    messages: Count
    summaries: Count


class EndLine(_Line):
    type: Literal["end"] = "end"
    users: Count
    sessions: Count
    messages: Count


Line = FormatLine | UserLine | SessionLine | MessageLine | SummaryLine | SessionEndLine | EndLine


def user_line(user: User) -> UserLine:
    return UserLine(
        user_id=user.user_id, uuid=user.uuid, created_at=user.created_at, updated_at=user.updated_at,
        email=user.email, first_name=user.first_name, last_name=user.last_name, metadata=user.metadata or None,
    )  # fmt: skip


def session_line(record: SessionRecord) -> SessionLine:
    s = record.session
    return SessionLine(
        session_id=s.session_id, uuid=s.uuid, created_at=s.created_at, updated_at=s.updated_at, user_id=s.user_id,
        metadata=s.metadata or None, summary_instruction=record.summary_instruction,
    )  # fmt: skip


def message_line(message: StoredMessage) -> MessageLine:
    return MessageLine(
        uuid=message.uuid, created_at=message.created_at, role=message.role, role_type=message.role_type,
        content=message.content, metadata=message.metadata, token_count=message.token_count,
    )  # fmt: skip


def summary_line(summary: Summary, *, current: bool) -> SummaryLine:
    return SummaryLine(
        current=current, uuid=summary.uuid, created_at=summary.created_at, content=summary.content,
        recent_message_uuid=summary.recent_message_uuid,
        recent_message_created_at=rfc3339_from_micros(summary.recent_message_ts), token_count=summary.token_count,
    )  # fmt: skip


def dump_line(line: Line) -> str:
    """One line of the format, without its newline (compact JSON, UTF-8 as is: the same bytes every time)."""
    return json.dumps(line.model_dump(), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


@cache
def _adapter() -> TypeAdapter[Line]:
    return TypeAdapter(Annotated[Line, Field(discriminator="type")])


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_line(text: str, where: str) -> Line:
    """A line of the format; FormatError naming `where` (e.g. `line 12`) and what is wrong, never the content."""
    try:
        value: JsonObject = json.loads(text, parse_constant=_no_constant)
    except ValueError as exc:
        raise FormatError(f"{where}: not JSON ({exc})") from None
    if not isinstance(value, dict) or "type" not in value:
        raise FormatError(f"{where}: expected a JSON object with a `type`")
    try:
        return _adapter().validate_python(value)
    except ValidationError as exc:
        raise FormatError(f"{where}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """pydantic's errors as `field: what is wrong`, without the values (which may be message content)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        location = ".".join(str(part) for part in error["loc"][1:])  # [0] is the line's type
        parts.append(f"{location}: {error['msg']}" if location else str(error["msg"]))
    return "; ".join(parts)
