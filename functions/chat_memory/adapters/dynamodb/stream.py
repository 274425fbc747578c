"""What the table's stream records say, in the domain's terms: the stream consumers never read a key or an image."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from chat_memory.adapters.dynamodb.embeddings import MODEL_ATTR
from chat_memory.adapters.dynamodb.keys import (
    MESSAGE_SK_PREFIX,
    SESSION_SK,
    TTL_ATTR,
    parse_session_pk,
    parse_user_pk,
    ts_from_message_sk,
)
from chat_memory.adapters.dynamodb.sizes import item_size
from chat_memory.domain.models import WrittenMessage
from chat_memory.domain.retention import DeletionReason

# Who deletes an item when its TTL passes (the record's userIdentity: type Service).
TTL_PRINCIPAL = "dynamodb.amazonaws.com"
_REASONS = frozenset(r.value for r in DeletionReason)


@dataclass(frozen=True, slots=True)
class SessionTombstone:
    """A deleted session: its items up to `up_to_ts` are to be purged, then the tombstone of `version`."""

    tenant: str
    session_id: str
    up_to_ts: int
    version: int
    reason: DeletionReason = DeletionReason.DELETE
    deleted_ts: int = 0  # microseconds: when the session became unreadable


@dataclass(frozen=True, slots=True)
class ExpiredSession:
    """A session item that DynamoDB's TTL deleted (its retention period passed): its items up to `up_to_ts` are to be
    purged, as for a tombstone; `expired_at` in epoch seconds."""

    tenant: str
    session_id: str
    up_to_ts: int
    expired_at: int


@dataclass(frozen=True, slots=True)
class UserTombstone:
    """A deleted incarnation (`user_uuid`) of a user, tombstone `version`."""

    tenant: str
    user_id: str
    user_uuid: str
    version: int


def tombstone(record: DynamoDBRecord) -> SessionTombstone | UserTombstone | None:
    """The tombstone a record writes, or None (not a tombstone: a live item, or a delete)."""
    image = (record.dynamodb.new_image if record.dynamodb else None) or {}
    if image.get("deleted") is not True:
        return None
    pk, version = str(image.get("PK", "")), int(image["version"])
    session = parse_session_pk(pk)
    if session is not None:
        reason = str(image.get("deleted_reason") or DeletionReason.DELETE.value)
        seconds = record.dynamodb.approximate_creation_date_time if record.dynamodb else None
        written_at = int(float(seconds or 0) * 1_000_000)
        return SessionTombstone(
            *session,
            up_to_ts=int(image.get("last_ts", 0)),
            version=version,
            reason=DeletionReason(reason) if reason in _REASONS else DeletionReason.DELETE,
            deleted_ts=int(image.get("deleted_ts") or written_at),  # tombstones of older versions: the record's time
        )
    user = parse_user_pk(pk)
    if user is not None:
        return UserTombstone(*user, user_uuid=str(image["uuid"]), version=version)
    return None


def expired_session(record: DynamoDBRecord) -> ExpiredSession | None:
    """The live session item a record says DynamoDB's TTL deleted, or None (any other record, a delete by a
    function included: the purger's own deletion of a tombstone)."""
    identity = record.raw_event.get("userIdentity") or {}
    if record.raw_event.get("eventName") != "REMOVE" or identity.get("principalId") != TTL_PRINCIPAL:
        return None
    raw_image = record.dynamodb.get("OldImage") if record.dynamodb else None
    if record.dynamodb is None or not raw_image:
        return None
    image = record.dynamodb.old_image
    session = parse_session_pk(str(image.get("PK", "")))
    if session is None or image.get("SK") != SESSION_SK or image.get("deleted") is True:
        return None
    return ExpiredSession(*session, up_to_ts=int(image.get("last_ts", 0)), expired_at=int(image.get(TTL_ATTR) or 0))


def session_of(record: DynamoDBRecord) -> tuple[str, str] | None:
    """(tenant, session_id) of the session a record's item belongs to, or None for any other item."""
    keys = record.dynamodb.keys if record.dynamodb else None
    if not keys or "PK" not in keys:
        return None
    return parse_session_pk(str(keys["PK"]))


def message_written(record: DynamoDBRecord) -> WrittenMessage | None:
    """The message a record writes (an insert or a change of a message item), or None for any other record."""
    data = record.dynamodb
    raw_image = data.get("NewImage") if data else None
    if data is None or not raw_image:
        return None
    image = data.new_image
    session = parse_session_pk(str(image.get("PK", "")))
    sk = str(image.get("SK", ""))
    if session is None or not sk.startswith(MESSAGE_SK_PREFIX) or "content" not in image:
        return None
    embedded_by = image.get(MODEL_ATTR)
    return WrittenMessage(
        *session,
        ts=ts_from_message_sk(sk),
        content=str(image["content"]),
        embedded_by=str(embedded_by) if embedded_by is not None else None,
        stored_bytes=item_size(raw_image),
        written_at=float(data.approximate_creation_date_time or 0),
    )


def words_changed(record: DynamoDBRecord) -> int | None:
    """The timestamp of the message whose words a record changed (a MODIFY with another content), or None."""
    data = record.dynamodb
    if data is None or not data.get("OldImage") or not data.get("NewImage"):
        return None
    old, new = data.old_image, data.new_image
    sk = str(new.get("SK", ""))
    if not sk.startswith(MESSAGE_SK_PREFIX) or old.get("content") == new.get("content"):
        return None
    return ts_from_message_sk(sk)


def written_at_micros(record: DynamoDBRecord) -> int:
    """When DynamoDB wrote the record's change (the stream's approximate time), in microseconds."""
    data = record.dynamodb
    return int(float(data.approximate_creation_date_time or 0) * 1_000_000) if data else 0
