"""Retention: how long a session lives after its last message, and the receipts that purges leave.

A tenant has a default period (the template's RetentionDays, or the tenant's own, set with `chat-memory keys
retention`); a session may override it in its metadata, `metadata.chat_memory.retention_days`: an integer of days,
0 to keep it for ever, null or absent for the tenant's default. A session expires `period` days after its newest
message (after its last update when it has none); from then on it reads as absent, and DynamoDB's TTL deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from chat_memory.domain.errors import InvalidInputError

if TYPE_CHECKING:
    from chat_memory.domain.models import JsonObject

MAX_RETENTION_DAYS: Final = 36_500  # 100 years
SECONDS_PER_DAY: Final = 86_400
RECEIPT_DAYS: Final = 90  # how long a deletion receipt is kept (then TTL removes it)
METADATA_KEY: Final = "chat_memory"  # the session metadata object that holds our settings
RETENTION_FIELD: Final = "retention_days"
_MICROS: Final = 1_000_000


class DeletionReason(StrEnum):
    DELETE = "delete"  # DELETE .../memory
    USER_DELETE = "user_delete"  # DELETE /users/{id}: each of the user's sessions
    RETENTION = "retention"  # the retention period passed


@dataclass(frozen=True, slots=True)
class DeletionReceipt:
    """What is left of a purged session: no content, no metadata."""

    session_id: str
    deleted_ts: int  # microseconds: when the session became unreadable
    items_deleted: int
    reason: DeletionReason

    @property
    def deleted_at(self) -> str:
        from chat_memory.domain.models import rfc3339_from_micros  # not on the authorizer's path

        return rfc3339_from_micros(self.deleted_ts)


def is_retention_days(value: Any) -> bool:
    """An integer of days in 0..MAX_RETENTION_DAYS (a bool is not one)."""
    return type(value) is int and 0 <= value <= MAX_RETENTION_DAYS


def check_retention_days(value: Any, where: str) -> int:
    if not is_retention_days(value):
        raise InvalidInputError(
            f"{where} must be an integer number of days from 0 (keep for ever) to {MAX_RETENTION_DAYS} (got {value!r})"
        )
    result: int = value
    return result


def check_session_retention(metadata: JsonObject | None) -> None:
    """Refuse (400) a session metadata object or patch whose `chat_memory.retention_days` is malformed."""
    if not metadata or METADATA_KEY not in metadata:
        return
    ours = metadata[METADATA_KEY]
    if ours is None:
        return
    if not isinstance(ours, dict):
        raise InvalidInputError(f"metadata.{METADATA_KEY} must be an object (got {type(ours).__name__})")
    days = ours.get(RETENTION_FIELD)
    if days is not None:
        check_retention_days(days, f"metadata.{METADATA_KEY}.{RETENTION_FIELD}")


def session_retention_days(metadata: JsonObject) -> int | None:
    """The session's own period, or None for the tenant's (also for a value stored before it was checked)."""
    ours = metadata.get(METADATA_KEY)
    days = ours.get(RETENTION_FIELD) if isinstance(ours, dict) else None
    return days if is_retention_days(days) else None


def effective_retention_days(metadata: JsonObject, tenant_days: int) -> int:
    own = session_retention_days(metadata)
    return tenant_days if own is None else own


def expiry(last_activity_us: int, days: int) -> int | None:
    """When a session whose newest activity was at `last_activity_us` expires (epoch seconds, DynamoDB's TTL
    unit), or None: kept for ever."""
    if days <= 0:
        return None
    return last_activity_us // _MICROS + days * SECONDS_PER_DAY


def is_expired(expires_at: int | None, now_us: int) -> bool:
    return expires_at is not None and expires_at * _MICROS <= now_us


def receipt_expiry(deleted_ts: int) -> int:
    """When a receipt of a deletion at `deleted_ts` (microseconds) goes (epoch seconds)."""
    return deleted_ts // _MICROS + RECEIPT_DAYS * SECONDS_PER_DAY
