"""Typed path and query parameters: one declaration gives the route its value, the edge its rule and the OpenAPI
document its schema.

Our rules are stricter than Powertools' (pydantic's) own where clients need them: integers are plain ASCII digits
(pydantic would take "+5", " 5", "5_0" and other scripts' digits), an empty parameter is absent (zep-python sends
`?limit=&cursor=`), ids in a path read `+` as a space. A value that breaks a rule is a RequestValidationError, which
the resolver answers 400 in the one error shape (chat_memory.api.http).
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any, Final

from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema

from chat_memory.api.schemas import PATH_ID_PATTERN, UUID_PATTERN, path_safe_id
from chat_memory.domain import limits
from chat_memory.domain.models import MemoryType

_DIGITS: Final = re.compile(r"[0-9]{1,18}")
_UUID: Final = re.compile(UUID_PATTERN)
MEMORY_TYPE_NAMES: Final = ["", *(t.value for t in MemoryType), *(f"MemoryType.{t.value}" for t in MemoryType)]


def blank_or_digits(value: Any) -> Any:
    """An integer parameter before pydantic reads it: empty means absent, anything but ASCII digits is refused."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise ValueError(f"must be an integer written in plain ASCII digits (got {value!r})")
    return value


# What an integer parameter is read with, and documented as: a digit string (empty: absent).
_BLANK_OR_DIGITS: Final = BeforeValidator(blank_or_digits)
_DIGIT_STRING: Final = WithJsonSchema({"type": "string", "pattern": "^[0-9]*$"})


def memory_type_name(value: Any) -> Any:
    """zep-python sends `MemoryType.perpetual` as well as `perpetual`; empty means the default."""
    if value is None or value == "":
        return MemoryType.PERPETUAL
    return value.removeprefix("MemoryType.") if isinstance(value, str) else value


def decoded_path_id(raw: str, what: str) -> str:
    """The id in a path segment. HTTP APIs deliver the path percent-decoded already; zep-python encodes ids with
    `quote_plus`, so what is left to undo is `+` for a space (together: `unquote_plus` semantics)."""
    try:
        return path_safe_id(raw.replace("+", " "))
    except ValueError as exc:
        raise ValueError(f"{what} {exc}") from None


def _session_id(raw: str) -> str:
    return decoded_path_id(raw, "session id")


def _user_id(raw: str) -> str:
    return decoded_path_id(raw, "user id")


def canonical_uuid(raw: str) -> str:
    """A message id from the path: a UUID in the hyphenated form we hand out (uuid.UUID would also take braces,
    "urn:uuid:" and bare hex), canonicalised as stored uuids are."""
    if not _UUID.fullmatch(raw):
        raise ValueError(f"message id must be a UUID (got {raw!r})")
    return str(uuid.UUID(raw))


_ID_SCHEMA: Final = {"pattern": PATH_ID_PATTERN, "minLength": 1, "maxLength": limits.MAX_ID_CHARS}

SessionIdParam = Annotated[
    Annotated[str, AfterValidator(_session_id)],
    Path(description="The session id (`+` reads as a space, as zep-python encodes it).", json_schema_extra=_ID_SCHEMA),
]
UserIdParam = Annotated[
    Annotated[str, AfterValidator(_user_id)],
    Path(description="The user id (`+` reads as a space).", json_schema_extra=_ID_SCHEMA),
]
MessageIdParam = Annotated[
    Annotated[str, AfterValidator(canonical_uuid)],
    Path(description="The message's uuid.", json_schema_extra={"pattern": UUID_PATTERN, "format": "uuid"}),
]
LimitParam = Annotated[
    Annotated[int, Field(ge=1, le=limits.MAX_LIST_LIMIT)] | None,
    _BLANK_OR_DIGITS,
    _DIGIT_STRING,
    Query(description=f"Page size, 1 to {limits.MAX_LIST_LIMIT} (empty: the default)."),
]
OffsetParam = Annotated[
    Annotated[int, Field(ge=0, le=10**9)] | None,
    _BLANK_OR_DIGITS,
    _DIGIT_STRING,
    Query(description="Zep's cursor: how many to skip (empty: 0)."),
]
PageParam = Annotated[
    Annotated[int, Field(ge=1, le=10**9)] | None,
    _BLANK_OR_DIGITS,
    _DIGIT_STRING,
    Query(description="Page number, from 1 (empty: 1)."),
]
LastNParam = Annotated[
    Annotated[int, Field(ge=1, le=limits.MAX_LASTN)] | None,
    _BLANK_OR_DIGITS,
    _DIGIT_STRING,
    Query(description=f"How many recent messages, 1 to {limits.MAX_LASTN} (empty: the session window)."),
]
LastNMessagesParam = Annotated[
    Annotated[int, Field(ge=1, le=limits.MAX_LASTN)] | None,
    _BLANK_OR_DIGITS,
    _DIGIT_STRING,
    Query(
        alias="lastNMessages",
        description=f"How many of the newest messages, 1 to {limits.MAX_LASTN} "
        f"(empty: {limits.DEFAULT_QUESTION_LAST_N}).",
    ),
]
MaxTokensParam = Annotated[
    Annotated[int, Field(ge=1, le=limits.MAX_MEMORY_TOKENS)] | None,
    _BLANK_OR_DIGITS,
    _DIGIT_STRING,
    Query(
        description=f"A token budget, 1 to {limits.MAX_MEMORY_TOKENS:,}: the summary (if it fits) and the newest "
        "messages that fit with it, never part of one (empty: no budget). Without `lastn`, as many as fit."
    ),
]
V1LastNParam = Annotated[
    Annotated[int, Field(ge=0, le=limits.MAX_LASTN)] | None,
    _BLANK_OR_DIGITS,
    _DIGIT_STRING,
    Query(
        description=f"How many recent messages, 0 to {limits.MAX_LASTN} (Zep 0.27: 0 or empty is the session window, "
        "from the summary on; N is the newest N messages and the latest summary)."
    ),
]
MemoryTypeParam = Annotated[
    MemoryType,
    BeforeValidator(memory_type_name),
    WithJsonSchema({"enum": MEMORY_TYPE_NAMES}),
    Query(alias="memoryType", description="Which memory (empty: perpetual). zep-python may send `MemoryType.<name>`."),
]
SearchLimitParam = Annotated[
    Annotated[int, Field(ge=1, le=limits.MAX_SEARCH_LIMIT)] | None,
    _BLANK_OR_DIGITS,
    _DIGIT_STRING,
    Query(description=f"How many results, 1 to {limits.MAX_SEARCH_LIMIT} (empty: {limits.DEFAULT_SEARCH_LIMIT})."),
]
PageTokenParam = Annotated[
    str | None,
    Query(description="Where the page starts: X-Next-Page-Token of the previous page (empty: the first page)."),
]
