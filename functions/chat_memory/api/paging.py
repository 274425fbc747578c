"""Answers that fit Lambda's response payload, and page tokens that clients can neither read into nor forge.

A list answer takes items until its `limit` or until the next one would pass limits.MAX_RESPONSE_BYTES; when more
follow, X-Next-Page-Token says where the next page starts. A token is the position of the last item sent,
authenticated with HMAC-SHA256 (the stack's key) over that position, the tenant, the listing and its resource: a token
altered, made up, or given for another listing or tenant is a 400.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

from pydantic import BaseModel

from chat_memory.api.schemas import MemoryBody, MessageBody, SummaryBody
from chat_memory.domain import limits
from chat_memory.domain.errors import InvalidInputError
from chat_memory.domain.models import Memory, Position
from chat_memory.settings import get_page_token_key

T = TypeVar("T")
U = TypeVar("U")

_MAC_BYTES: Final = 16  # HMAC-SHA256 truncated to 128 bits
_MAX_TS: Final = 10**16  # positions are microseconds, as the keys store them


def response_bytes(value: Any) -> int:
    """What `value` (a response model or a JSON value) adds to the Lambda response: its compact JSON text as the
    body holds it, escaped again into the payload's body string as json.dumps' defaults escape it (every non-ASCII
    character as \\uXXXX: the most a Python runtime sends)."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(json.dumps(text)) - 2


@dataclass(frozen=True, slots=True)
class Fitted(Generic[T, U]):
    """What an answer takes, shaped (its response models), and the last item taken when more follow (None at the
    end)."""

    items: list[U]
    last: T | None


def take_fitting(
    items: Iterable[T], shape: Callable[[T], U], *, limit: int | None, budget: int = limits.MAX_RESPONSE_BYTES
) -> Fitted[T, U]:
    """The first items, up to `limit`, whose JSON array fits `budget` (always the first one), shaped. Reads one item
    past the page to know whether more follow."""
    taken: list[U] = []
    last: T | None = None
    used = 2  # the brackets
    for item in items:
        value = shape(item)
        size = response_bytes(value) + 1  # and its comma
        if (limit is not None and len(taken) >= limit) or (taken and used + size > budget):
            return Fitted(taken, last)
        taken.append(value)
        used += size
        last = item
    return Fitted(taken, None)


def newest_fitting(items: Sequence[T], shape: Callable[[T], U], budget: int) -> list[U]:
    """The newest of `items` (oldest first) that fit `budget`, shaped, oldest first."""
    return take_fitting(reversed(items), shape, limit=None, budget=budget).items[::-1]


def fitted_memory(memory: Memory) -> MemoryBody:
    """The memory's answer, its oldest messages left out where it would not fit one Lambda response."""
    summary = SummaryBody.model_validate(memory.summary) if memory.summary else None
    room = limits.MAX_RESPONSE_BYTES - response_bytes(MemoryBody(messages=[], summary=summary))
    return MemoryBody(messages=newest_fitting(memory.messages, MessageBody.model_validate, room), summary=summary)


@dataclass(frozen=True, slots=True)
class TokenScope:
    """What a page token is valid for: a tenant's listing (an operation) of one resource (a session or user id)."""

    tenant: str
    listing: str
    resource: str = ""

    def _mac(self, payload: bytes) -> bytes:
        scope = json.dumps([self.tenant, self.listing, self.resource], ensure_ascii=False).encode()
        return hmac.new(get_page_token_key(), scope + b"\n" + payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def token(self, position: Position) -> str:
        payload = json.dumps([position.ts, position.id], separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(self._mac(payload) + payload).decode().rstrip("=")

    def position(self, token: str) -> Position:
        """The position a token of this scope holds; InvalidInputError for any other string."""
        refused = InvalidInputError("page_token is not a token this API gave out for this listing")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:  # binascii.Error, non-ASCII text
            raise refused from None
        mac, payload = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        if not payload or not hmac.compare_digest(mac, self._mac(payload)):
            raise refused
        return _parsed(payload, refused)


def _parsed(payload: bytes, refused: InvalidInputError) -> Position:
    """The position in an authentic payload, still checked: a key shared by two versions of the API must not 500."""
    try:
        ts, item_id = json.loads(payload)
    except (ValueError, TypeError):
        raise refused from None
    if type(ts) is not int or not 0 <= ts < _MAX_TS or not isinstance(item_id, str):
        raise refused
    return Position(ts, item_id)
