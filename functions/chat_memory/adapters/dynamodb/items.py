"""Items <-> domain objects: the stored format of sessions, users, messages and summaries (see keys.py and the
README's data model). Values go through boto3's TypeSerializer/TypeDeserializer (str: S, int: N, bool: BOOL; None
leaves the attribute out); metadata is stored as a JSON string, so numbers of any size and nesting round-trip."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chat_memory.adapters.dynamodb import keys

# Re-exported: most of the store imports them from here.
from chat_memory.adapters.dynamodb.attributes import Item as Item
from chat_memory.adapters.dynamodb.attributes import Value as Value
from chat_memory.adapters.dynamodb.attributes import from_item as from_item
from chat_memory.adapters.dynamodb.attributes import sort_key as sort_key
from chat_memory.adapters.dynamodb.attributes import to_item as to_item
from chat_memory.adapters.dynamodb.message_ids import located_ts
from chat_memory.domain.models import CountedMessage, JsonObject, RoleType, Session, StoredMessage, Summary, User


def dump_json(value: JsonObject) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def is_deleted(item: Mapping[str, Any]) -> bool:
    return bool(item.get("deleted", {}).get("BOOL", False))


# -- sessions -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """The session item, with the bookkeeping the API does not show."""

    session: Session
    version: int
    last_ts: int  # newest message timestamp ever reserved in this partition (survives deletion)
    first_ts: int  # messages older than this belong to a deleted incarnation of the session
    deleted: bool
    summary_instruction: str | None
    message_count: int = 0  # messages of this incarnation (message pages report it as total_count)
    # The attempt that wrote this version (add_memory): tells a writer whose answer was lost that it committed.
    write_token: str | None = None
    user_uuid: str | None = None  # the incarnation of `session.user_id` this session belongs to
    expires_at: int | None = None  # epoch seconds (DynamoDB's TTL): past it, the session reads as absent
    deleted_reason: str | None = None  # a tombstone's DeletionReason
    deleted_ts: int | None = None  # a tombstone's: when it became unreadable (microseconds)


def session_key(tenant: str, session_id: str) -> Item:
    return to_item(
        {keys.TABLE_PARTITION_KEY: keys.session_pk(tenant, session_id), keys.TABLE_SORT_KEY: keys.SESSION_SK}
    )


def session_from_item(item: Mapping[str, Any]) -> SessionRecord:
    v = from_item(item)
    session = Session(
        session_id=v["session_id"],
        uuid=v["uuid"],
        created_ts=int(v["created_ts"]),
        updated_ts=int(v["updated_ts"]),
        user_id=v.get("user_id"),
        metadata=json.loads(v["metadata"]) if v.get("metadata") else {},
    )
    return SessionRecord(
        session=session,
        version=int(v["version"]),
        last_ts=int(v.get("last_ts", 0)),
        first_ts=int(v.get("first_ts", 0)),
        deleted=bool(v.get("deleted", False)),
        summary_instruction=v.get("summary_instruction"),
        message_count=int(v.get("message_count", 0)),
        write_token=v.get("write_token"),
        user_uuid=v.get("user_uuid"),
        expires_at=int(v[keys.TTL_ATTR]) if v.get(keys.TTL_ATTR) is not None else None,
        deleted_reason=v.get("deleted_reason"),
        deleted_ts=int(v["deleted_ts"]) if v.get("deleted_ts") is not None else None,
    )


def session_item(tenant: str, record: SessionRecord) -> Item:
    s = record.session
    listed = not record.deleted  # only live sessions are in the listing indexes (sparse GSIs)
    created = keys.created_sk(s.created_ts, s.session_id)
    by_user = None
    if listed and s.user_id is not None and record.user_uuid is not None:
        by_user = keys.user_sessions_gsi_pk(tenant, s.user_id, record.user_uuid)
    return to_item(
        {
            keys.TABLE_PARTITION_KEY: keys.session_pk(tenant, s.session_id),
            keys.TABLE_SORT_KEY: keys.SESSION_SK,
            "tenant": tenant,
            "session_id": s.session_id,
            "uuid": s.uuid,
            "created_ts": s.created_ts,
            "updated_ts": s.updated_ts,
            "version": record.version,
            "last_ts": record.last_ts,
            "first_ts": record.first_ts,
            "message_count": record.message_count,
            "metadata": dump_json(s.metadata) if s.metadata else None,
            "user_id": s.user_id,
            "user_uuid": record.user_uuid,
            "summary_instruction": record.summary_instruction,
            "write_token": record.write_token,
            "deleted": True if record.deleted else None,
            "deleted_reason": record.deleted_reason if record.deleted else None,
            "deleted_ts": record.deleted_ts if record.deleted else None,
            keys.TTL_ATTR: None if record.deleted else record.expires_at,  # a tombstone waits for its purge
            keys.GSI1_PARTITION_KEY: keys.sessions_gsi_pk(tenant) if listed else None,
            keys.GSI1_SORT_KEY: created if listed else None,
            keys.GSI2_PARTITION_KEY: by_user,
            keys.GSI2_SORT_KEY: created if by_user else None,
        }
    )


# -- users --------------------------------------------------------------------------------------------------------


def user_key(tenant: str, user_id: str) -> Item:
    return to_item({keys.TABLE_PARTITION_KEY: keys.user_pk(tenant, user_id), keys.TABLE_SORT_KEY: keys.USER_SK})


def user_item(tenant: str, user: User, *, version: int, deleted: bool = False) -> Item:
    return to_item(
        {
            keys.TABLE_PARTITION_KEY: keys.user_pk(tenant, user.user_id),
            keys.TABLE_SORT_KEY: keys.USER_SK,
            "tenant": tenant,
            "user_id": user.user_id,
            "uuid": user.uuid,
            "created_ts": user.created_ts,
            "updated_ts": user.updated_ts,
            "version": version,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "metadata": dump_json(user.metadata) if user.metadata else None,
            "deleted": True if deleted else None,
            keys.GSI1_PARTITION_KEY: None if deleted else keys.users_gsi_pk(tenant),
            keys.GSI1_SORT_KEY: None if deleted else keys.created_sk(user.created_ts, user.user_id),
        }
    )


def user_from_item(item: Mapping[str, Any]) -> User:
    v = from_item(item)
    return User(
        user_id=v["user_id"],
        uuid=v["uuid"],
        created_ts=int(v["created_ts"]),
        updated_ts=int(v["updated_ts"]),
        email=v.get("email"),
        first_name=v.get("first_name"),
        last_name=v.get("last_name"),
        metadata=json.loads(v["metadata"]) if v.get("metadata") else {},
    )


# -- messages and summaries ---------------------------------------------------------------------------------------


def message_from_item(item: Mapping[str, Any]) -> StoredMessage:
    v = from_item(item)
    message_uuid = stored_uuid(item)
    if message_uuid is None:
        raise KeyError(keys.MESSAGE_UUID_ATTR)
    return StoredMessage(
        uuid=message_uuid,
        ts=keys.ts_from_message_sk(v[keys.TABLE_SORT_KEY]),
        role=v["role"],
        role_type=RoleType(v["role_type"]),
        content=v["content"],
        token_count=int(v["token_count"]),
        metadata=json.loads(v["metadata"]) if v.get("metadata") else None,
    )


def message_attributes(counted: CountedMessage) -> Item:
    """A message's attributes but its key and uuid (the order names an update's attributes: keep it)."""
    message = counted.message
    return to_item(
        {
            "role": message.role,
            "role_type": message.role_type.value,
            "content": message.content,
            "token_count": counted.token_count,
            "metadata": dump_json(message.metadata) if message.metadata is not None else None,
        }
    )


def message_key_item(pk: str, ts: int, message_uuid: str) -> Item:
    """A message's key and uuid. A uuid that says it is stored at `ts` (message_ids.py: ours) is found by its key
    and needs no `MessagesByUuid` entry; any other is stored as the LSI's key."""
    attr = keys.LOCATED_UUID_ATTR if located_ts(message_uuid) == ts else keys.MESSAGE_UUID_ATTR
    return to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.message_sk(ts), attr: message_uuid})


def stored_uuid(item: Mapping[str, Any]) -> str | None:
    """The uuid of a message item, wherever it is stored (the LSI's key or the located attribute)."""
    value = item.get(keys.MESSAGE_UUID_ATTR) or item.get(keys.LOCATED_UUID_ATTR)
    return str(value["S"]) if value else None


def message_item(pk: str, ts: int, message_uuid: str, counted: CountedMessage) -> Item:
    """A whole message item: its key (the timestamp), its uuid and its attributes."""
    return message_key_item(pk, ts, message_uuid) | message_attributes(counted)


def current_summary_item(pk: str, summary: Summary, version: int) -> Item:
    """The current summary of a session (one per session, under its `version`)."""
    key: dict[str, Value] = {keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.CURRENT_SUMMARY_SK}
    return to_item({**key, "version": version}) | summary_attributes(summary)


def history_summary_item(pk: str, summary: Summary) -> Item:
    """A summary in the session's history, keyed by the newest message it covers."""
    key = {keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.summary_history_sk(summary.recent_message_ts)}
    return to_item(key) | summary_attributes(summary)


def summary_attributes(summary: Summary) -> Item:
    return to_item(
        {
            "summary_uuid": summary.uuid,
            "created_ts": summary.ts,
            "content": summary.content,
            "recent_message_uuid": summary.recent_message_uuid,
            "point_ts": summary.recent_message_ts,
            "token_count": summary.token_count,
        }
    )


def summary_from_item(item: Mapping[str, Any]) -> Summary:
    v = from_item(item)
    return Summary(
        uuid=v["summary_uuid"],
        ts=int(v["created_ts"]),
        content=v["content"],
        recent_message_uuid=v["recent_message_uuid"],
        recent_message_ts=int(v["point_ts"]),
        token_count=int(v["token_count"]),
    )
