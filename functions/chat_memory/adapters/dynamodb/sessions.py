"""Session items: reading and writing them under their optimistic `version`, tombstones, and the session half of
the MemoryStore port (get, create, update, list, delete)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import attempts, is_version_conflict, store_errors
from chat_memory.adapters.dynamodb.items import (
    Item,
    SessionRecord,
    from_item,
    is_deleted,
    session_from_item,
    session_item,
    session_key,
    to_item,
    user_key,
)
from chat_memory.adapters.dynamodb.sizes import ensure_item_fits, item_size
from chat_memory.adapters.dynamodb.table import GSI1, OnTable, Table
from chat_memory.domain.errors import ConflictError, InvalidInputError, NotFoundError, StoreUnavailableError
from chat_memory.domain.models import JsonObject, Position, Session, User, deep_merge
from chat_memory.domain.retention import DeletionReason, effective_retention_days, expiry, is_expired

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import PutTypeDef, TransactWriteItemTypeDef

Change = Callable[[SessionRecord | None], SessionRecord]


def read_session(table: Table, tenant: str, session_id: str) -> SessionRecord | None:
    item = table.get(session_key(tenant, session_id))
    return session_from_item(item) if item else None


def is_expired_record(record: SessionRecord | None, now_us: int) -> bool:
    """A live session past its retention period (TTL may not have removed it yet)."""
    return record is not None and not record.deleted and is_expired(record.expires_at, now_us)


def is_gone(record: SessionRecord | None, now_us: int) -> bool:
    """No session to read: none, a tombstone, or past its retention period."""
    return record is None or record.deleted or is_expired(record.expires_at, now_us)


def live_session(table: Table, tenant: str, session_id: str) -> SessionRecord | None:
    record = read_session(table, tenant, session_id)
    return None if record is None or is_gone(record, table.clock()) else record


def with_expiry(record: SessionRecord, tenant_days: int) -> SessionRecord:
    """The record with its expiry recomputed: the session's own period (its metadata) or the tenant's, from its
    newest message (from its last update when it has none)."""
    days = effective_retention_days(record.session.metadata, tenant_days)
    active = record.last_ts if record.message_count > 0 else record.session.updated_ts
    return replace(record, expires_at=expiry(active, days))


def tombstone_of(record: SessionRecord, reason: DeletionReason, deleted_ts: int) -> SessionRecord:
    """What a deletion leaves of the session item: unreadable, out of the indexes, `last_ts` kept."""
    return replace(
        record,
        version=record.version + 1,
        deleted=True,
        summary_instruction=None,
        expires_at=None,
        deleted_reason=reason.value,
        deleted_ts=deleted_ts,
    )


def retire_expired(table: Table, tenant: str, record: SessionRecord) -> SessionRecord | None:
    """Tombstone a session past its retention period that TTL has not removed yet, as a DELETE would (its stream
    record has the purger delete its items; a writer then starts a new incarnation past its `last_ts`). The
    tombstone, or None when another writer changed the item first (read it again)."""
    tomb = tombstone_of(record, DeletionReason.RETENTION, (record.expires_at or 0) * 1_000_000)
    put = versioned_session_put(table.name, session_item(tenant, tomb), record.version)
    request = {k: v for k, v in put.items() if k != "TableName"}
    return tomb if table.write_if(table.db.put_item, **request) else None


def fresh_record(
    previous: SessionRecord | None,
    session_id: str,
    now: int,
    user: User | None,
    metadata: JsonObject,
    summary_instruction: str | None,
) -> SessionRecord:
    """A new session, or a new incarnation of a deleted one: its messages start past every old timestamp, so
    leftovers of the old incarnation can never mix in. Its `version` follows that of the item it replaces."""
    return SessionRecord(
        session=Session(
            session_id=session_id,
            uuid=str(uuid.uuid4()),
            created_ts=now,
            updated_ts=now,
            user_id=user.user_id if user else None,
            metadata=metadata,
        ),
        version=previous.version + 1 if previous else 1,
        last_ts=previous.last_ts if previous else now - 1,
        # A brand-new session starts now: leftovers of an incarnation that TTL removed (not yet purged) are older.
        first_ts=(previous.last_ts + 1) if previous else now,
        deleted=False,
        summary_instruction=summary_instruction,
        user_uuid=user.uuid if user else None,
    )


def checked_session_item(tenant: str, record: SessionRecord, changed_by_caller: SessionRecord | None) -> Item:
    """The session item, if it fits DynamoDB's 400 KB (`changed_by_caller`: the stored record a caller's change of
    metadata or instructions grows, which must leave room for later bookkeeping)."""
    item = session_item(tenant, record)
    before = None
    if changed_by_caller is not None and not changed_by_caller.deleted:
        before = item_size(session_item(tenant, changed_by_caller))
    ensure_item_fits(item, f"session {record.session.session_id!r} with its metadata", before=before)
    return item


def versioned_session_put(table: str, item: Item, expected_version: int | None) -> PutTypeDef:
    """Write the whole session item if nobody changed it since we read `expected_version` (None: new)."""
    put: PutTypeDef = {"TableName": table, "Item": item}
    if expected_version is None:
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        put["ConditionExpression"] = "version = :v"
        put["ExpressionAttributeValues"] = to_item({":v": expected_version})
    return put


def _user_still_there(table: str, tenant: str, user: User) -> TransactWriteItemTypeDef:
    """A session given to `user` is written only while that incarnation of the user lives: a DELETE of the user
    that commits first makes the session write fail, so no session of a deleted user survives its DELETE."""
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": user_key(tenant, user.user_id),
            "ConditionExpression": "#uuid = :uu AND attribute_not_exists(deleted)",
            "ExpressionAttributeNames": {"#uuid": "uuid"},
            "ExpressionAttributeValues": to_item({":uu": user.uuid}),
        }
    }


def _user_is_gone(table: Table, tenant: str, user: User) -> bool:
    """That incarnation of the user is no more (deleted, perhaps created again since)."""
    item = table.get(user_key(tenant, user.user_id))
    return item is None or is_deleted(item) or from_item(item)["uuid"] != user.uuid


def write_session(
    table: Table, tenant: str, session_id: str, change: Change, user: User | None = None
) -> SessionRecord:
    """Read the session item, apply `change` and write the result if nobody wrote in between; else retry."""
    for _ in attempts(table.retry_budget):
        existing = read_session(table, tenant, session_id)
        if existing is not None and is_expired_record(existing, table.clock()):
            existing = retire_expired(table, tenant, existing)
            if existing is None:
                continue
        record = change(existing)
        expected = existing.version if existing else None
        put = versioned_session_put(table.name, checked_session_item(tenant, record, existing), expected)
        try:
            with store_errors():
                if user is None:
                    table.db.put_item(**put)
                else:
                    still_there = _user_still_there(table.name, tenant, user)
                    table.db.transact_write_items(TransactItems=[{"Put": put}, still_there])
        except ClientError as exc:
            if not is_version_conflict(exc):
                raise
            if user is not None and _user_is_gone(table, tenant, user):
                raise InvalidInputError(f"user_id {user.user_id!r} names no user: it was deleted") from exc
            continue
        return record
    raise StoreUnavailableError("too many concurrent writes to this session; retry shortly")


def live_sessions(items: Iterable[Mapping[str, Any]], now_us: int) -> Iterator[Session]:
    """The sessions of listing index items, but those past their retention period."""
    for item in items:
        record = session_from_item(item)
        if not is_gone(record, now_us):
            yield record.session


# -- tombstones ---------------------------------------------------------------------------------------------------


def bury_session(
    table: Table,
    tenant: str,
    session_id: str,
    owner: tuple[str, str] | None = None,
    reason: DeletionReason = DeletionReason.DELETE,
) -> SessionRecord | None:
    """Turn the session item into a tombstone; None when there is no live session (of `owner`, a user id and
    uuid, when given: a session moved to another user since the index was read stays)."""

    def bury(existing: SessionRecord | None) -> SessionRecord:
        if existing is None or existing.deleted:
            raise NotFoundError(f"session {session_id!r} not found")
        if owner is not None and (existing.session.user_id, existing.user_uuid) != owner:
            raise NotFoundError(f"session {session_id!r} belongs to another user now")
        return tombstone_of(existing, reason, table.clock())

    try:
        return write_session(table, tenant, session_id, bury)
    except NotFoundError:
        return None


def bury_sessions(table: Table, tenant: str, session_ids: Sequence[str], owner: tuple[str, str]) -> int:
    """Tombstone sessions of `owner` (user id, uuid) in parallel (each thread in a copy of this context: the
    deadline and the capacity measure apply)."""
    if not session_ids:
        return 0
    contexts = [copy_context() for _ in session_ids]
    reason = DeletionReason.USER_DELETE
    with ThreadPoolExecutor(max_workers=8) as pool:
        buried = list(
            pool.map(lambda c, sid: c.run(bury_session, table, tenant, sid, owner, reason), contexts, session_ids)
        )
    return sum(record is not None for record in buried)


def bury_session_action(
    table: str, tenant: str, session_id: str, user: User, deleted_ts: int
) -> TransactWriteItemTypeDef:
    """What bury_session writes, as a transaction action that needs no read: the live session of this
    incarnation of the user becomes a tombstone (out of the listing indexes, its version moved on)."""
    return {
        "Update": {
            "TableName": table,
            "Key": session_key(tenant, session_id),
            "UpdateExpression": (
                "SET deleted = :yes, version = version + :one, deleted_reason = :why, deleted_ts = :at REMOVE "
                f"{keys.GSI1_PARTITION_KEY}, {keys.GSI1_SORT_KEY}, {keys.GSI2_PARTITION_KEY}, "
                f"{keys.GSI2_SORT_KEY}, summary_instruction, {keys.TTL_ATTR}"
            ),
            "ConditionExpression": "user_id = :u AND user_uuid = :uu AND attribute_not_exists(deleted)",
            "ExpressionAttributeValues": to_item(
                {
                    ":yes": True,
                    ":one": 1,
                    ":u": user.user_id,
                    ":uu": user.uuid,
                    ":why": DeletionReason.USER_DELETE.value,
                    ":at": deleted_ts,
                }
            ),
        }
    }


# -- the port -----------------------------------------------------------------------------------------------------


class DynamoSessions(OnTable):
    """The sessions of MemoryStore."""

    def get_session(self, tenant: str, session_id: str) -> Session | None:
        record = live_session(self._table, tenant, session_id)
        return record.session if record else None

    def create_session(
        self, tenant: str, session_id: str, user: User | None, metadata: JsonObject, *, retention_days: int = 0
    ) -> Session:
        def create(existing: SessionRecord | None) -> SessionRecord:
            if existing is not None and not existing.deleted:
                raise ConflictError(f"session {session_id!r} already exists")
            record = fresh_record(existing, session_id, self._table.clock(), user, metadata, None)
            return with_expiry(record, retention_days)

        return write_session(self._table, tenant, session_id, create, user).session

    def update_session(
        self,
        tenant: str,
        session_id: str,
        user: User | None,
        metadata_patch: JsonObject | None,
        *,
        retention_days: int = 0,
    ) -> Session:
        def update(existing: SessionRecord | None) -> SessionRecord:
            if existing is None or existing.deleted:
                raise NotFoundError(f"session {session_id!r} not found")
            old = existing.session
            session = replace(
                old,
                updated_ts=max(self._table.clock(), old.updated_ts),
                user_id=user.user_id if user is not None else old.user_id,
                metadata=deep_merge(old.metadata, metadata_patch) if metadata_patch else old.metadata,
            )
            user_uuid = user.uuid if user is not None else existing.user_uuid
            updated = replace(existing, session=session, version=existing.version + 1, user_uuid=user_uuid)
            return with_expiry(updated, retention_days)

        return write_session(self._table, tenant, session_id, update, user).session

    def list_sessions(self, tenant: str, after: Position | None, read_ahead: int) -> Iterator[Session]:
        """Sessions in creation order, read lazily: a page costs what it returns (plus what an offset skips)."""
        items = self._table.listing(keys.LIST_BY_TENANT_INDEX, GSI1, keys.sessions_gsi_pk(tenant), after, read_ahead)
        return live_sessions(items, self._table.clock())

    def delete_session(self, tenant: str, session_id: str) -> bool:
        """One conditional write, whatever the session's size: the tombstone makes the session unreadable at once
        and keeps `last_ts`, so a writer that recreates the session gets timestamps past everything left to
        purge. The tombstone's stream record wakes the purger, which deletes the items (purge_session)."""
        return bury_session(self._table, tenant, session_id) is not None
