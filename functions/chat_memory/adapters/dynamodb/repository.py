"""DynamoDB implementation of the MemoryStore port.

Writes to a session are serialised by an optimistic version on the session item: every add_memory is one
TransactWriteItems holding the session item (condition: the version we read) and its messages, so
- a request's messages land all or none;
- timestamps are reserved past the session's `last_ts`, so `created_at` strictly increases in commit order,
  whatever the writers' clocks say;
- a caller's uuid is resolved against the committed state, so a retried request updates instead of duplicating;
- an attempt that committed unanswered (a read timeout, then botocore's copy refused by the version check) is
  found by the uuids it gave its messages, and answered, not written a second time.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass, replace
from itertools import islice
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from chat_memory import deadline
from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.adapters.dynamodb.sizes import ensure_item_fits, ensure_transaction_fits, item_size
from chat_memory.domain.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    StoreUnavailableError,
)
from chat_memory.domain.models import (
    AddedMessage,
    CountedMessage,
    JsonObject,
    MessagePage,
    Position,
    RoleType,
    Session,
    StoredMessage,
    Summary,
    SummaryState,
    User,
    UserChanges,
    Window,
    deep_merge,
)
from chat_memory.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
    )

Item = dict[str, "AttributeValueTypeDef"]

# Error codes that mean "try again later", after botocore's own retries ran out.
_UNAVAILABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "InternalServerError",
        "ServiceUnavailable",
        "LimitExceededException",
    }
)
# Cancellation reasons of a transaction that mean the same (botocore does not retry cancelled transactions:
# the write loops do, then answer 503).
_UNAVAILABLE_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"})
# Cancellation reasons of a transaction that lost a race: re-read and try again.
_CONFLICT_REASONS = frozenset({"None", "ConditionalCheckFailed", "TransactionConflict"})
# How long one write may keep retrying a lost race (or unprocessed batch items) before answering 503; the
# invocation's deadline (chat_memory.deadline) may cut it shorter.
_RETRY_BUDGET_SECONDS = 5.0
_BATCH_WRITE_SIZE = 25
_METADATA_VERSION = "mv"  # a message's metadata version: the condition of a metadata PATCH
_TRANSACTION_SIZE = 100


def _now_micros() -> int:
    return time.time_ns() // 1_000


_SESSION_FULL = "ItemCollectionSizeLimitExceeded"
_GSI1 = (keys.GSI1_PARTITION_KEY, keys.GSI1_SORT_KEY)
_GSI2 = (keys.GSI2_PARTITION_KEY, keys.GSI2_SORT_KEY)


def _is_session_full(exc: ClientError) -> bool:
    """A write refused because the partition (a session with its MessagesByUuid entries) holds 10 GB, the limit of
    a table with a local secondary index: retrying cannot help."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code == f"{_SESSION_FULL}Exception":
        return True
    return code == "TransactionCanceledException" and any(
        r.get("Code") == _SESSION_FULL for r in exc.response.get("CancellationReasons", [])
    )


def _unavailable() -> StoreUnavailableError:
    return StoreUnavailableError("the memory store is busy; retry shortly", retry_after_seconds=1)


@contextmanager
def store_errors() -> Iterator[None]:
    """Turn DynamoDB throttling/unavailability (after botocore's retries), network failures and a spent deadline
    into the domain's StoreUnavailableError. Cancelled transactions are left to the caller (_is_retryable_write)."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in _UNAVAILABLE_CODES:
            raise _unavailable() from exc
        if _is_session_full(exc):
            raise PayloadTooLargeError(
                "this session holds 10 GB, DynamoDB's limit for one session: nothing was stored; "
                "continue the conversation in a new session"
            ) from exc
        raise
    except (BotocoreConnectionError, HTTPClientError, deadline.DeadlineExceeded) as exc:
        # A timed-out write may still have happened: the client's retry with its uuids updates, never duplicates.
        raise _unavailable() from exc


def _s(value: str) -> AttributeValueTypeDef:
    return {"S": value}


def _n(value: int) -> AttributeValueTypeDef:
    return {"N": str(value)}


def _dump_json(value: JsonObject) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class _SessionRecord:
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


def _session_from_item(item: Mapping[str, Any]) -> _SessionRecord:
    metadata_raw = item.get("metadata", {}).get("S")
    session = Session(
        session_id=item["session_id"]["S"],
        uuid=item["uuid"]["S"],
        created_ts=int(item["created_ts"]["N"]),
        updated_ts=int(item["updated_ts"]["N"]),
        user_id=item["user_id"]["S"] if "user_id" in item else None,
        metadata=json.loads(metadata_raw) if metadata_raw else {},
    )
    return _SessionRecord(
        session=session,
        version=int(item["version"]["N"]),
        last_ts=int(item.get("last_ts", {}).get("N", "0")),
        first_ts=int(item.get("first_ts", {}).get("N", "0")),
        deleted=item.get("deleted", {}).get("BOOL", False),
        summary_instruction=item["summary_instruction"]["S"] if "summary_instruction" in item else None,
        message_count=int(item.get("message_count", {}).get("N", "0")),
        write_token=item["write_token"]["S"] if "write_token" in item else None,
        user_uuid=item["user_uuid"]["S"] if "user_uuid" in item else None,
    )


def _session_item(tenant: str, record: _SessionRecord) -> Item:
    s = record.session
    item: Item = {
        keys.TABLE_PARTITION_KEY: _s(keys.session_pk(tenant, s.session_id)),
        keys.TABLE_SORT_KEY: _s(keys.SESSION_SK),
        "tenant": _s(tenant),
        "session_id": _s(s.session_id),
        "uuid": _s(s.uuid),
        "created_ts": _n(s.created_ts),
        "updated_ts": _n(s.updated_ts),
        "version": _n(record.version),
        "last_ts": _n(record.last_ts),
        "first_ts": _n(record.first_ts),
        "message_count": _n(record.message_count),
    }
    if s.metadata:
        item["metadata"] = _s(_dump_json(s.metadata))
    if s.user_id is not None:
        item["user_id"] = _s(s.user_id)
    if record.user_uuid is not None:
        item["user_uuid"] = _s(record.user_uuid)
    if record.summary_instruction is not None:
        item["summary_instruction"] = _s(record.summary_instruction)
    if record.write_token is not None:
        item["write_token"] = _s(record.write_token)
    if record.deleted:
        item["deleted"] = {"BOOL": True}
    else:
        # Only live sessions are in the listing index (sparse GSI).
        item[keys.GSI1_PARTITION_KEY] = _s(keys.sessions_gsi_pk(tenant))
        item[keys.GSI1_SORT_KEY] = _s(keys.created_sk(s.created_ts, s.session_id))
        if s.user_id is not None and record.user_uuid is not None:
            item[keys.GSI2_PARTITION_KEY] = _s(keys.user_sessions_gsi_pk(tenant, s.user_id, record.user_uuid))
            item[keys.GSI2_SORT_KEY] = _s(keys.created_sk(s.created_ts, s.session_id))
    return item


def _fresh_record(
    previous: _SessionRecord | None,
    session_id: str,
    now: int,
    user: User | None,
    metadata: JsonObject,
    summary_instruction: str | None,
) -> _SessionRecord:
    """A new session, or a new incarnation of a deleted one: its messages start past every old timestamp, so
    leftovers of the old incarnation can never mix in. Its `version` follows that of the item it replaces."""
    return _SessionRecord(
        session=Session(
            session_id=session_id,
            uuid=str(uuid.uuid4()),
            created_ts=now,
            updated_ts=now,
            user_id=user.user_id if user else None,
            metadata=metadata,
        ),
        version=previous.version + 1 if previous else 1,
        last_ts=previous.last_ts if previous else 0,
        first_ts=(previous.last_ts + 1) if previous else 0,
        deleted=False,
        summary_instruction=summary_instruction,
        user_uuid=user.uuid if user else None,
    )


def _checked_session_item(tenant: str, record: _SessionRecord, changed_by_caller: _SessionRecord | None) -> Item:
    """The session item, if it fits DynamoDB's 400 KB (`changed_by_caller`: the stored record a caller's change of
    metadata or instructions grows, which must leave room for later bookkeeping)."""
    item = _session_item(tenant, record)
    before = None
    if changed_by_caller is not None and not changed_by_caller.deleted:
        before = item_size(_session_item(tenant, changed_by_caller))
    ensure_item_fits(item, f"session {record.session.session_id!r} with its metadata", before=before)
    return item


def _versioned_session_put(table: str, item: Item, expected_version: int | None) -> PutTypeDef:
    """Write the whole session item if nobody changed it since we read `expected_version` (None: new)."""
    put: PutTypeDef = {"TableName": table, "Item": item}
    if expected_version is None:
        put["ConditionExpression"] = "attribute_not_exists(PK)"
    else:
        put["ConditionExpression"] = "version = :v"
        put["ExpressionAttributeValues"] = {":v": _n(expected_version)}
    return put


def _is_deleted(item: Mapping[str, Any]) -> bool:
    return bool(item.get("deleted", {}).get("BOOL", False))


def _user_key(tenant: str, user_id: str) -> Item:
    return {keys.TABLE_PARTITION_KEY: _s(keys.user_pk(tenant, user_id)), keys.TABLE_SORT_KEY: _s(keys.USER_SK)}


def _user_item(tenant: str, user: User, *, version: int, deleted: bool = False) -> Item:
    item: Item = {
        keys.TABLE_PARTITION_KEY: _s(keys.user_pk(tenant, user.user_id)),
        keys.TABLE_SORT_KEY: _s(keys.USER_SK),
        "tenant": _s(tenant),
        "user_id": _s(user.user_id),
        "uuid": _s(user.uuid),
        "created_ts": _n(user.created_ts),
        "updated_ts": _n(user.updated_ts),
        "version": _n(version),
    }
    for name in ("email", "first_name", "last_name"):
        value = getattr(user, name)
        if value is not None:
            item[name] = _s(value)
    if user.metadata:
        item["metadata"] = _s(_dump_json(user.metadata))
    if deleted:
        item["deleted"] = {"BOOL": True}
    else:
        item[keys.GSI1_PARTITION_KEY] = _s(keys.users_gsi_pk(tenant))
        item[keys.GSI1_SORT_KEY] = _s(keys.created_sk(user.created_ts, user.user_id))
    return item


def _user_from_item(item: Mapping[str, Any]) -> User:
    metadata_raw = item.get("metadata", {}).get("S")
    return User(
        user_id=item["user_id"]["S"],
        uuid=item["uuid"]["S"],
        created_ts=int(item["created_ts"]["N"]),
        updated_ts=int(item["updated_ts"]["N"]),
        email=item["email"]["S"] if "email" in item else None,
        first_name=item["first_name"]["S"] if "first_name" in item else None,
        last_name=item["last_name"]["S"] if "last_name" in item else None,
        metadata=json.loads(metadata_raw) if metadata_raw else {},
    )


def _message_from_item(item: Mapping[str, Any]) -> StoredMessage:
    metadata_raw = item.get("metadata", {}).get("S")
    return StoredMessage(
        uuid=item[keys.MESSAGE_UUID_ATTR]["S"],
        ts=keys.ts_from_message_sk(item[keys.TABLE_SORT_KEY]["S"]),
        role=item["role"]["S"],
        role_type=RoleType(item["role_type"]["S"]),
        content=item["content"]["S"],
        token_count=int(item["token_count"]["N"]),
        metadata=json.loads(metadata_raw) if metadata_raw else None,
    )


def _summary_attributes(summary: Summary) -> Item:
    return {
        "summary_uuid": _s(summary.uuid),
        "created_ts": _n(summary.ts),
        "content": _s(summary.content),
        "recent_message_uuid": _s(summary.recent_message_uuid),
        "point_ts": _n(summary.recent_message_ts),
        "token_count": _n(summary.token_count),
    }


def _summary_from_item(item: Mapping[str, Any]) -> Summary:
    return Summary(
        uuid=item["summary_uuid"]["S"],
        ts=int(item["created_ts"]["N"]),
        content=item["content"]["S"],
        recent_message_uuid=item["recent_message_uuid"]["S"],
        recent_message_ts=int(item["point_ts"]["N"]),
        token_count=int(item["token_count"]["N"]),
    )


def _message_attributes(counted: CountedMessage) -> Item:
    message = counted.message
    attributes: Item = {
        "role": _s(message.role),
        "role_type": _s(message.role_type.value),
        "content": _s(message.content),
        "token_count": _n(counted.token_count),
    }
    if message.metadata is not None:
        attributes["metadata"] = _s(_dump_json(message.metadata))
    return attributes


def _cancellation_reasons(exc: ClientError) -> set[str] | None:
    """The reasons of a cancelled transaction; None for any other error."""
    if exc.response.get("Error", {}).get("Code", "") != "TransactionCanceledException":
        return None
    return {str(r.get("Code", "None")) for r in exc.response.get("CancellationReasons", [])}


def _is_version_conflict(exc: ClientError) -> bool:
    """True when a transaction or conditional write lost a race and may simply be retried."""
    reasons = _cancellation_reasons(exc)
    if reasons is not None:
        # Only conflicts are retryable: any other reason (validation, size) is a real error.
        return reasons <= _CONFLICT_REASONS
    return exc.response.get("Error", {}).get("Code", "") in (
        "ConditionalCheckFailedException",
        "TransactionConflictException",
    )


def _is_throttled_transaction(exc: ClientError) -> bool:
    """A transaction cancelled (nothing written) because some of its items were throttled."""
    reasons = _cancellation_reasons(exc)
    if reasons is None or not reasons & _UNAVAILABLE_REASONS:
        return False
    return reasons <= _UNAVAILABLE_REASONS | _CONFLICT_REASONS


def _is_retryable_write(exc: ClientError) -> bool:
    return _is_version_conflict(exc) or _is_throttled_transaction(exc)


def _attempts(budget_seconds: float) -> Iterator[int]:
    """Attempt numbers until the time budget is spent, sleeping between attempts.

    Exponential backoff with full jitter (10 ms doubling to 0.5 s) spreads concurrent writers of one session
    apart; always at least one attempt. (Past the invocation's deadline the client refuses to send: a 503.)
    """
    end = time.monotonic() + budget_seconds
    attempt = 0
    while True:
        yield attempt
        pause = random.uniform(0, min(0.5, 0.01 * 2**attempt))  # noqa: S311 - jitter, not cryptography
        if time.monotonic() + pause > end:
            return
        time.sleep(pause)
        attempt += 1


class DynamoMemoryStore:
    """MemoryStore on one DynamoDB table (see keys.py for the layout)."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        clock: Callable[[], int] = _now_micros,
        retry_budget_seconds: float = _RETRY_BUDGET_SECONDS,
    ) -> None:
        self._table = table_name
        self._retry_budget = retry_budget_seconds
        self._client_override = client
        self._clock = clock

    @property
    def _db(self) -> DynamoDBClient:
        return self._client_override or dynamodb_client()

    # -- sessions -------------------------------------------------------------------------------------

    def _get_record(self, tenant: str, session_id: str) -> _SessionRecord | None:
        with store_errors():
            response = self._db.get_item(
                TableName=self._table,
                Key={
                    keys.TABLE_PARTITION_KEY: _s(keys.session_pk(tenant, session_id)),
                    keys.TABLE_SORT_KEY: _s(keys.SESSION_SK),
                },
                ConsistentRead=True,
            )
        item = response.get("Item")
        return _session_from_item(item) if item else None

    def get_session(self, tenant: str, session_id: str) -> Session | None:
        record = self._get_record(tenant, session_id)
        return None if record is None or record.deleted else record.session

    def _user_still_there(self, tenant: str, user: User) -> TransactWriteItemTypeDef:
        """A session given to `user` is written only while that incarnation of the user lives: a DELETE of the user
        that commits first makes the session write fail, so no session of a deleted user survives its DELETE."""
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": _user_key(tenant, user.user_id),
                "ConditionExpression": "#uuid = :uu AND attribute_not_exists(deleted)",
                "ExpressionAttributeNames": {"#uuid": "uuid"},
                "ExpressionAttributeValues": {":uu": _s(user.uuid)},
            }
        }

    def _write_session(
        self,
        tenant: str,
        session_id: str,
        change: Callable[[_SessionRecord | None], _SessionRecord],
        user: User | None = None,
    ) -> _SessionRecord:
        """Read the session item, apply `change` and write the result if nobody wrote in between; else retry."""
        for _ in _attempts(self._retry_budget):
            existing = self._get_record(tenant, session_id)
            record = change(existing)
            expected = existing.version if existing else None
            put = _versioned_session_put(self._table, _checked_session_item(tenant, record, existing), expected)
            try:
                with store_errors():
                    if user is None:
                        self._db.put_item(**put)
                    else:
                        still_there = self._user_still_there(tenant, user)
                        self._db.transact_write_items(TransactItems=[{"Put": put}, still_there])
            except ClientError as exc:
                if not _is_version_conflict(exc):
                    raise
                current = self.get_user(tenant, user.user_id) if user is not None else None
                if user is not None and (current is None or current.uuid != user.uuid):
                    raise InvalidInputError(f"user_id {user.user_id!r} names no user: it was deleted") from exc
                continue
            return record
        raise StoreUnavailableError("too many concurrent writes to this session; retry shortly")

    def create_session(self, tenant: str, session_id: str, user: User | None, metadata: JsonObject) -> Session:
        def create(existing: _SessionRecord | None) -> _SessionRecord:
            if existing is not None and not existing.deleted:
                raise ConflictError(f"session {session_id!r} already exists")
            return _fresh_record(existing, session_id, self._clock(), user, metadata, None)

        return self._write_session(tenant, session_id, create, user).session

    def update_session(
        self, tenant: str, session_id: str, user: User | None, metadata_patch: JsonObject | None
    ) -> Session:
        def update(existing: _SessionRecord | None) -> _SessionRecord:
            if existing is None or existing.deleted:
                raise NotFoundError(f"session {session_id!r} not found")
            old = existing.session
            session = replace(
                old,
                updated_ts=max(self._clock(), old.updated_ts),
                user_id=user.user_id if user is not None else old.user_id,
                metadata=deep_merge(old.metadata, metadata_patch) if metadata_patch else old.metadata,
            )
            user_uuid = user.uuid if user is not None else existing.user_uuid
            return replace(existing, session=session, version=existing.version + 1, user_uuid=user_uuid)

        return self._write_session(tenant, session_id, update, user).session

    def _items(self, query: dict[str, Any]) -> Iterator[Mapping[str, Any]]:
        """The items of a Query, one request per page as the caller reads on (a page stops at its Limit or 1 MB)."""
        while True:
            with store_errors():
                page = self._db.query(**query)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            query = {**query, "ExclusiveStartKey": page["LastEvaluatedKey"]}

    def _listing(
        self, index: str, key_attrs: tuple[str, str], partition: str, after: Position | None, read_ahead: int | None
    ) -> Iterator[Mapping[str, Any]]:
        """One partition of a listing index (creation order, then id), after `after`; `read_ahead` sizes the pages."""
        pk_attr, sk_attr = key_attrs
        condition = f"{pk_attr} = :pk"
        values = {":pk": _s(partition)}
        if after is not None:
            condition += f" AND {sk_attr} > :after"
            values[":after"] = _s(keys.created_sk(after.ts, after.id))
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
        }
        if read_ahead is not None:
            query["Limit"] = read_ahead
        return self._items(query)

    def list_sessions(self, tenant: str, after: Position | None, read_ahead: int) -> Iterator[Session]:
        """Sessions in creation order, read lazily: a page costs what it returns (plus what an offset skips)."""
        items = self._listing(keys.LIST_BY_TENANT_INDEX, _GSI1, keys.sessions_gsi_pk(tenant), after, read_ahead)
        return (_session_from_item(i).session for i in items)

    # -- messages -------------------------------------------------------------------------------------

    def _existing_message_sks(
        self, tenant: str, session_id: str, message_uuids: Sequence[str], first_ts: int
    ) -> dict[str, str]:
        """uuid -> sort key, for the callers' uuids already stored in this incarnation of the session."""
        found: dict[str, str] = {}
        pk = keys.session_pk(tenant, session_id)
        for message_uuid in message_uuids:
            with store_errors():
                page = self._db.query(
                    TableName=self._table,
                    IndexName=keys.MESSAGE_UUID_INDEX,
                    KeyConditionExpression="PK = :pk AND MsgUuid = :u",
                    ExpressionAttributeValues={":pk": _s(pk), ":u": _s(message_uuid)},
                    ConsistentRead=True,  # an LSI reads its own writes
                )
            for item in page.get("Items", []):
                sk = item[keys.TABLE_SORT_KEY]["S"]
                if keys.ts_from_message_sk(sk) >= first_ts:
                    found[message_uuid] = sk
        return found

    def append_messages(
        self,
        tenant: str,
        session_id: str,
        messages: Sequence[CountedMessage],
        metadata_patch: JsonObject | None,
        summary_instruction: str | None,
    ) -> list[AddedMessage]:
        pk = keys.session_pk(tenant, session_id)
        caller_uuids = [m.message.uuid for m in messages if m.message.uuid is not None]
        # Our uuids for the messages without one, the same in every attempt, and the first such message: the probe
        # that finds an attempt committed although its answer was lost (see the handling of a refusal below).
        message_uuids = [m.message.uuid or str(uuid.uuid4()) for m in messages]
        probe = next((i for i, m in enumerate(messages) if m.message.uuid is None), None)
        unanswered: dict[int, list[AddedMessage]] = {}  # the probe's ts -> the answer of an attempt that may be in
        # An attempt's token (on the session item it writes) -> its answer, for attempts whose outcome we never
        # heard: refused after botocore had resent them, or timed out. Finding our token on the session item
        # means that attempt committed; its answer is the answer.
        unanswered_tokens: dict[str, list[AddedMessage]] = {}
        for attempt in _attempts(self._retry_budget):
            existing = self._get_record(tenant, session_id)
            if existing is not None and existing.write_token in unanswered_tokens:
                return unanswered_tokens[existing.write_token]
            now = self._clock()
            if existing is None or existing.deleted:
                # Sessions are created by their first add_memory (Zep's semantics).
                base = _fresh_record(existing, session_id, now, None, metadata_patch or {}, summary_instruction)
            else:
                old = existing.session
                base = replace(
                    existing,
                    session=replace(
                        old,
                        updated_ts=max(now, old.updated_ts),
                        metadata=deep_merge(old.metadata, metadata_patch) if metadata_patch else old.metadata,
                    ),
                    summary_instruction=summary_instruction or existing.summary_instruction,
                )
            first_ts, last_ts = base.first_ts, base.last_ts
            if unanswered and probe is not None:
                found = self._existing_message_sks(tenant, session_id, [message_uuids[probe]], first_ts)
                stored_sk = found.get(message_uuids[probe])
                earlier = unanswered.get(keys.ts_from_message_sk(stored_sk)) if stored_sk else None
                if earlier is not None:
                    return earlier  # that attempt is in: its answer, not a second copy

            known = self._existing_message_sks(tenant, session_id, caller_uuids, first_ts) if caller_uuids else {}
            next_ts = max(now, last_ts + 1)
            actions: list[TransactWriteItemTypeDef] = []
            items: list[Item] = []  # every item of the transaction as it will be stored, for DynamoDB's limits
            added: list[AddedMessage] = []
            for counted, message_uuid in zip(messages, message_uuids, strict=True):
                caller_uuid = counted.message.uuid
                attributes = _message_attributes(counted)
                if caller_uuid is not None and caller_uuid in known:
                    sk = known[caller_uuid]
                    stored = {keys.TABLE_PARTITION_KEY: _s(pk), keys.TABLE_SORT_KEY: _s(sk), **attributes}
                    stored[keys.MESSAGE_UUID_ATTR] = _s(caller_uuid)
                    items.append(stored)
                    actions.append(_update_message_action(self._table, pk, sk, caller_uuid, attributes))
                    added.append(
                        AddedMessage(caller_uuid, keys.ts_from_message_sk(sk), counted.token_count, updated=True)
                    )
                    continue
                ts = next_ts
                next_ts += 1
                item: Item = {
                    keys.TABLE_PARTITION_KEY: _s(pk),
                    keys.TABLE_SORT_KEY: _s(keys.message_sk(ts)),
                    keys.MESSAGE_UUID_ATTR: _s(message_uuid),
                    **attributes,
                }
                items.append(item)
                actions.append(
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": item,
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    }
                )
                added.append(AddedMessage(message_uuid, ts, counted.token_count, updated=False))

            version = (existing.version if existing else 0) + 1
            new_messages = sum(not a.updated for a in added)
            token = str(uuid.uuid4())
            record = replace(
                base,
                version=version,
                last_ts=max(last_ts, next_ts - 1),
                message_count=base.message_count + new_messages,
                write_token=token,
            )
            grown = existing if metadata_patch or summary_instruction else None
            session_item = _checked_session_item(tenant, record, grown)
            for stored in items:
                ensure_item_fits(stored, "a message with its metadata")
            ensure_transaction_fits([session_item, *items])
            session_put = _versioned_session_put(self._table, session_item, existing.version if existing else None)
            try:
                with store_errors():
                    # The token also makes botocore's own resend of this attempt (after a timeout) idempotent on
                    # AWS: a copy of a committed transaction succeeds without writing again (moto ignores it).
                    self._db.transact_write_items(
                        TransactItems=[{"Put": session_put}, *actions], ClientRequestToken=token
                    )
            except ClientError as exc:
                if not _is_retryable_write(exc):
                    raise
                if exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0):
                    # botocore sent the transaction more than once (e.g. after a read timeout): an earlier copy may
                    # have committed unanswered, and this refusal be its own version check. The next attempt looks.
                    self._remember_unanswered(unanswered, unanswered_tokens, token, probe, added)
                logger.debug("add_memory lost a race or was throttled; retrying", extra={"attempt": attempt})
                continue
            except StoreUnavailableError as exc:
                if not isinstance(exc.__cause__, BotocoreConnectionError | HTTPClientError):
                    raise
                # No answer at all (botocore's retries timed out too): it may have committed. Look, then retry.
                self._remember_unanswered(unanswered, unanswered_tokens, token, probe, added)
                logger.debug("add_memory got no answer; looking whether it committed", extra={"attempt": attempt})
                continue
            return added
        if unanswered_tokens:
            # Out of time, but one last look: an attempt we never heard back from may be the one that is in.
            existing = self._get_record(tenant, session_id)
            if existing is not None and existing.write_token in unanswered_tokens:
                return unanswered_tokens[existing.write_token]
        raise StoreUnavailableError("too many concurrent writes to this session, or the store is busy; retry shortly")

    @staticmethod
    def _remember_unanswered(
        by_probe: dict[int, list[AddedMessage]],
        by_token: dict[str, list[AddedMessage]],
        token: str,
        probe: int | None,
        added: list[AddedMessage],
    ) -> None:
        by_token[token] = added
        if probe is not None:
            by_probe[added[probe].ts] = added

    def _range(
        self,
        pk: str,
        lo: str,
        hi: str,
        *,
        limit: int | None = None,
        newest_first: bool = False,
        keys_only: bool = False,
    ) -> list[Mapping[str, Any]]:
        """Items with lo <= SK <= hi, strongly consistent, following LastEvaluatedKey (a 1 MB page can stop
        short of Limit) until `limit` items or the end of the range."""
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {":pk": _s(pk), ":lo": _s(lo), ":hi": _s(hi)},
            "ScanIndexForward": not newest_first,
            "ConsistentRead": True,
        }
        if keys_only:
            query["ProjectionExpression"] = "PK, SK"
        items: list[Mapping[str, Any]] = []
        while limit is None or len(items) < limit:
            if limit is not None:
                query["Limit"] = limit - len(items)
            with store_errors():
                page = self._db.query(**query)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    def read_window(self, tenant: str, session_id: str, limit: int) -> Window | None:
        """The current summary, the session and its newest `limit` messages in one descending Query.

        'MSG#...' < 'SESSION' < 'SESSION#SUMMARY': the summary (when there is one) and the session item come
        first, then the messages, newest first. The cost is that of the items returned, whatever the length of
        the history.
        """
        pk = keys.session_pk(tenant, session_id)
        items = self._range(pk, keys.MESSAGE_SK_PREFIX, keys.CURRENT_SUMMARY_SK, limit=limit + 2, newest_first=True)
        summary_item = items.pop(0) if items and items[0][keys.TABLE_SORT_KEY]["S"] == keys.CURRENT_SUMMARY_SK else None
        if not items or items[0][keys.TABLE_SORT_KEY]["S"] != keys.SESSION_SK:
            return None
        record = _session_from_item(items[0])
        if record.deleted:
            return None
        # Leftovers of a deleted incarnation are all older than first_ts: they can only trail the list.
        messages = [m for m in map(_message_from_item, items[1 : limit + 1]) if m.ts >= record.first_ts]
        messages.reverse()
        summary = _summary_from_item(summary_item) if summary_item else None
        if summary is not None and summary.recent_message_ts < record.first_ts:
            summary = None  # written for a deleted incarnation
        return Window(session=record.session, messages=messages, summary=summary, first_ts=record.first_ts)

    def summary_before(self, tenant: str, session_id: str, before_ts: int, not_before_ts: int) -> Summary | None:
        if before_ts <= not_before_ts:
            return None
        items = self._range(
            keys.session_pk(tenant, session_id),
            keys.summary_history_sk(not_before_ts),
            keys.summary_history_sk(before_ts - 1),
            limit=1,
            newest_first=True,
        )
        return _summary_from_item(items[0]) if items else None

    # -- perpetual memory (the summariser's side) -----------------------------------------------------

    def summary_state(self, tenant: str, session_id: str) -> SummaryState | None:
        items = self._range(keys.session_pk(tenant, session_id), keys.SESSION_SK, keys.CURRENT_SUMMARY_SK)
        by_sk = {i[keys.TABLE_SORT_KEY]["S"]: i for i in items}
        session_item = by_sk.get(keys.SESSION_SK)
        if session_item is None:
            return None
        record = _session_from_item(session_item)
        if record.deleted:
            return None
        summary_item = by_sk.get(keys.CURRENT_SUMMARY_SK)
        summary = _summary_from_item(summary_item) if summary_item else None
        version = int(summary_item["version"]["N"]) if summary_item else 0
        if summary is not None and summary.recent_message_ts < record.first_ts:
            summary = None  # a deleted incarnation's; overwritten (by version) with this one's first summary
        return SummaryState(
            first_ts=record.first_ts, summary=summary, version=version, instruction=record.summary_instruction
        )

    def message_timestamps(
        self, tenant: str, session_id: str, after_ts: int, limit: int, newest_first: bool
    ) -> list[int]:
        items = self._range(
            keys.session_pk(tenant, session_id),
            keys.message_sk(after_ts + 1),
            keys.LAST_MESSAGE_SK,
            limit=limit,
            newest_first=newest_first,
            keys_only=True,
        )
        return [keys.ts_from_message_sk(i[keys.TABLE_SORT_KEY]["S"]) for i in items]

    def messages_between(
        self, tenant: str, session_id: str, after_ts: int, before_ts: int, limit: int
    ) -> list[StoredMessage]:
        if before_ts - after_ts < 2:
            return []
        pk = keys.session_pk(tenant, session_id)
        items = self._range(pk, keys.message_sk(after_ts + 1), keys.message_sk(before_ts - 1), limit=limit)
        return [_message_from_item(i) for i in items]

    def write_summary(self, tenant: str, session_id: str, summary: Summary, expected_version: int) -> bool:
        pk = keys.session_pk(tenant, session_id)
        attributes = _summary_attributes(summary)
        current: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    keys.TABLE_PARTITION_KEY: _s(pk),
                    keys.TABLE_SORT_KEY: _s(keys.CURRENT_SUMMARY_SK),
                    "version": _n(expected_version + 1),
                    **attributes,
                },
                # Two summarisers of one session (a retried batch, a replayed stream): only one moves it on.
                "ConditionExpression": "attribute_not_exists(PK) OR version = :v",
                "ExpressionAttributeValues": {":v": _n(expected_version)},
            }
        }
        history: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    keys.TABLE_PARTITION_KEY: _s(pk),
                    keys.TABLE_SORT_KEY: _s(keys.summary_history_sk(summary.recent_message_ts)),
                    **attributes,
                },
            }
        }
        try:
            with store_errors():
                self._db.transact_write_items(TransactItems=[current, history])
        except ClientError as exc:
            if _is_version_conflict(exc):
                return False
            if _is_throttled_transaction(exc):
                raise _unavailable() from exc
            raise
        return True

    # -- deletion -------------------------------------------------------------------------------------

    def _bury_session(
        self, tenant: str, session_id: str, owner: tuple[str, str] | None = None
    ) -> _SessionRecord | None:
        """Turn the session item into a tombstone; None when there is no live session (of `owner`, a user id and
        uuid, when given: a session moved to another user since the index was read stays)."""

        def bury(existing: _SessionRecord | None) -> _SessionRecord:
            if existing is None or existing.deleted:
                raise NotFoundError(f"session {session_id!r} not found")
            if owner is not None and (existing.session.user_id, existing.user_uuid) != owner:
                raise NotFoundError(f"session {session_id!r} belongs to another user now")
            return replace(existing, version=existing.version + 1, deleted=True, summary_instruction=None)

        try:
            return self._write_session(tenant, session_id, bury)
        except NotFoundError:
            return None

    def delete_session(self, tenant: str, session_id: str) -> bool:
        """One conditional write, whatever the session's size: the tombstone makes the session unreadable at once
        and keeps `last_ts`, so a writer that recreates the session gets timestamps past everything left to
        purge. The tombstone's stream record wakes the purger, which deletes the items (purge_session)."""
        return self._bury_session(tenant, session_id) is not None

    def purge_session(self, tenant: str, session_id: str, up_to_ts: int, version: int) -> int:
        """Delete what the tombstone of `version` left: messages and summaries up to `up_to_ts`, then the tombstone.

        Safe against replays (a stream redelivers records): it acts only while that tombstone is still there, or
        when the session was recreated over it (its messages then start after `up_to_ts`). Once the tombstone is
        gone the purge is done, and a session created since may have timestamps of any value.
        """
        current = self._get_record(tenant, session_id)
        if current is None:
            return 0
        if current.deleted and current.version == version:
            deleted = self._purge(tenant, session_id, up_to_ts)
            self._drop_tombstone(tenant, session_id, version)
            return deleted
        if not current.deleted and current.first_ts > up_to_ts:
            return self._purge(tenant, session_id, up_to_ts)
        return 0

    # -- messages -------------------------------------------------------------------------------------

    def _live_record(self, tenant: str, session_id: str) -> _SessionRecord | None:
        record = self._get_record(tenant, session_id)
        return None if record is None or record.deleted else record

    def message_page(
        self, tenant: str, session_id: str, skip: int, after: Position | None, read_ahead: int
    ) -> MessagePage | None:
        """The session's messages oldest first, after `after` or skipping `skip`, read lazily. Skipping costs reading
        what it skips (Zep's clients page by page number)."""
        record = self._live_record(tenant, session_id)
        if record is None:
            return None
        if skip >= record.message_count:
            return MessagePage(messages=iter(()), total_count=record.message_count)
        first_ts = record.first_ts if after is None else max(record.first_ts, after.ts + 1)
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
            "ExpressionAttributeValues": {
                ":pk": _s(keys.session_pk(tenant, session_id)),
                ":lo": _s(keys.message_sk(first_ts)),
                ":hi": _s(keys.LAST_MESSAGE_SK),
            },
            "ConsistentRead": True,
            "Limit": skip + read_ahead,
        }
        items = islice(self._items(query), skip, None)
        return MessagePage(messages=(_message_from_item(i) for i in items), total_count=record.message_count)

    def _message_item(self, record: _SessionRecord, tenant: str, message_uuid: str) -> Mapping[str, Any] | None:
        """A message of the session's current incarnation by uuid: the LSI gives its key, consistently."""
        pk = keys.session_pk(tenant, record.session.session_id)
        sks = self._existing_message_sks(tenant, record.session.session_id, [message_uuid], record.first_ts)
        if message_uuid not in sks:
            return None
        with store_errors():
            response = self._db.get_item(
                TableName=self._table,
                Key={keys.TABLE_PARTITION_KEY: _s(pk), keys.TABLE_SORT_KEY: _s(sks[message_uuid])},
                ConsistentRead=True,
            )
        return response.get("Item")

    def get_message(self, tenant: str, session_id: str, message_uuid: str) -> StoredMessage | None:
        record = self._live_record(tenant, session_id)
        item = self._message_item(record, tenant, message_uuid) if record else None
        return _message_from_item(item) if item else None

    def update_message_metadata(
        self, tenant: str, session_id: str, message_uuid: str, metadata_patch: JsonObject
    ) -> StoredMessage | None:
        """Deep-merge into the message's metadata, conditional on the metadata read (a lost race re-reads)."""
        for _ in _attempts(self._retry_budget):
            record = self._live_record(tenant, session_id)
            item = self._message_item(record, tenant, message_uuid) if record else None
            if item is None:
                return None
            message = _message_from_item(item)
            merged = deep_merge(message.metadata or {}, metadata_patch)
            ensure_item_fits(
                {**item, "metadata": _s(_dump_json(merged))}, "the message with its metadata", before=item_size(item)
            )
            # The metadata's version, not its old value, is the condition: the request stays small.
            seen = item.get(_METADATA_VERSION)
            condition = f"{_METADATA_VERSION} = :seen" if seen else f"attribute_not_exists({_METADATA_VERSION})"
            values: dict[str, AttributeValueTypeDef] = {
                ":m": _s(_dump_json(merged)),
                ":u": _s(message_uuid),
                ":next": _n(int(seen["N"]) + 1 if seen else 1),
            }
            if seen:
                values[":seen"] = seen
            try:
                with store_errors():
                    self._db.update_item(
                        TableName=self._table,
                        Key={keys.TABLE_PARTITION_KEY: item["PK"], keys.TABLE_SORT_KEY: item["SK"]},
                        UpdateExpression=f"SET metadata = :m, {_METADATA_VERSION} = :next",
                        ConditionExpression=f"MsgUuid = :u AND {condition}",
                        ExpressionAttributeValues=values,
                    )
            except ClientError as exc:
                if not _is_version_conflict(exc):
                    raise
                continue
            return replace(message, metadata=merged)
        raise StoreUnavailableError("too many concurrent writes to this message; retry shortly")

    # -- users ----------------------------------------------------------------------------------------

    def _get_user_item(self, tenant: str, user_id: str) -> Mapping[str, Any] | None:
        with store_errors():
            response = self._db.get_item(
                TableName=self._table,
                Key=_user_key(tenant, user_id),
                ConsistentRead=True,
            )
        return response.get("Item")

    def get_user(self, tenant: str, user_id: str) -> User | None:
        item = self._get_user_item(tenant, user_id)
        return _user_from_item(item) if item and not _is_deleted(item) else None

    def create_user(self, tenant: str, user: User) -> User:
        """A new user, or at once a new incarnation of a deleted one (even while its purge runs), in one conditional
        write: a new uuid, whose index partition of sessions never holds the old incarnation's."""
        new_item = _user_item(tenant, user, version=1)
        ensure_item_fits(new_item, "the user with their metadata")
        try:
            with store_errors():
                self._db.put_item(
                    TableName=self._table,
                    Item=new_item,
                    ConditionExpression="attribute_not_exists(PK) OR deleted = :yes",
                    ExpressionAttributeValues={":yes": {"BOOL": True}},
                )
        except ClientError as exc:
            if not _is_version_conflict(exc):
                raise
            raise ConflictError(f"user {user.user_id!r} already exists") from exc
        return user

    def update_user(self, tenant: str, user_id: str, changes: UserChanges) -> User | None:
        for _ in _attempts(self._retry_budget):
            item = self._get_user_item(tenant, user_id)
            if item is None or _is_deleted(item):
                return None
            old = _user_from_item(item)
            user = replace(
                old,
                updated_ts=max(self._clock(), old.updated_ts),
                email=changes.email if changes.email is not None else old.email,
                first_name=changes.first_name if changes.first_name is not None else old.first_name,
                last_name=changes.last_name if changes.last_name is not None else old.last_name,
                metadata=deep_merge(old.metadata, changes.metadata) if changes.metadata else old.metadata,
            )
            version = int(item["version"]["N"])
            new_item = _user_item(tenant, user, version=version + 1)
            ensure_item_fits(new_item, f"user {user_id!r} with their metadata", before=item_size(item))
            try:
                with store_errors():
                    self._db.put_item(
                        TableName=self._table,
                        Item=new_item,
                        ConditionExpression="version = :v",
                        ExpressionAttributeValues={":v": _n(version)},
                    )
            except ClientError as exc:
                if not _is_version_conflict(exc):
                    raise
                continue
            return user
        raise StoreUnavailableError("too many concurrent writes to this user; retry shortly")

    def list_users(self, tenant: str, after: Position | None, read_ahead: int) -> Iterator[User]:
        items = self._listing(keys.LIST_BY_TENANT_INDEX, _GSI1, keys.users_gsi_pk(tenant), after, read_ahead)
        return (_user_from_item(i) for i in items)

    def user_sessions(
        self, tenant: str, user: User, after: Position | None, read_ahead: int | None
    ) -> Iterator[Session]:
        """The live sessions of this incarnation of the user, oldest first, from the sparse SessionsByUser index."""
        partition = keys.user_sessions_gsi_pk(tenant, user.user_id, user.uuid)
        items = self._listing(keys.SESSIONS_BY_USER_INDEX, _GSI2, partition, after, read_ahead)
        return (_session_from_item(i).session for i in items)

    def _incarnation_sessions(self, tenant: str, user_id: str, user_uuid: str) -> list[_SessionRecord]:
        partition = keys.user_sessions_gsi_pk(tenant, user_id, user_uuid)
        return [_session_from_item(i) for i in self._listing(keys.SESSIONS_BY_USER_INDEX, _GSI2, partition, None, None)]

    def delete_user(self, tenant: str, user_id: str) -> bool:
        """Tombstone the user and their sessions in one transaction: nothing of theirs is readable when this
        returns, and a function killed on the way leaves all of it readable or none. (Sessions past the first 99
        are tombstoned after the transaction; killed then, they stay readable until the purger sweeps.) The stream
        hands the tombstones to the purger, which deletes the items in the background and sweeps again for
        sessions the (eventually consistent) index had not shown yet."""
        for _ in _attempts(self._retry_budget):
            item = self._get_user_item(tenant, user_id)
            if item is None or _is_deleted(item):
                return False
            version = int(item["version"]["N"])
            user = _user_from_item(item)
            tombstone: PutTypeDef = {
                "TableName": self._table,
                "Item": _user_item(tenant, user, version=version + 1, deleted=True),
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": _n(version)},
            }
            session_ids = [s.session_id for s in self.user_sessions(tenant, user, None, None)]
            together = session_ids[: _TRANSACTION_SIZE - 1]
            actions = [self._bury_session_action(tenant, sid, user) for sid in together]
            try:
                with store_errors():
                    self._db.transact_write_items(TransactItems=[{"Put": tombstone}, *actions])
            except ClientError as exc:
                # A session the index still showed was deleted or moved meanwhile: read again.
                if not _is_retryable_write(exc):
                    raise
                continue
            self._bury_sessions(tenant, session_ids[len(together) :], (user.user_id, user.uuid))
            return True
        raise StoreUnavailableError("too many concurrent writes to this user, or the store is busy; retry shortly")

    def _bury_session_action(self, tenant: str, session_id: str, user: User) -> TransactWriteItemTypeDef:
        """What _bury_session writes, as a transaction action that needs no read: the live session of this
        incarnation of the user becomes a tombstone (out of the listing indexes, its version moved on)."""
        return {
            "Update": {
                "TableName": self._table,
                "Key": {
                    keys.TABLE_PARTITION_KEY: _s(keys.session_pk(tenant, session_id)),
                    keys.TABLE_SORT_KEY: _s(keys.SESSION_SK),
                },
                "UpdateExpression": (
                    "SET deleted = :yes, version = version + :one REMOVE "
                    f"{keys.GSI1_PARTITION_KEY}, {keys.GSI1_SORT_KEY}, {keys.GSI2_PARTITION_KEY}, "
                    f"{keys.GSI2_SORT_KEY}, summary_instruction"
                ),
                "ConditionExpression": "user_id = :u AND user_uuid = :uu AND attribute_not_exists(deleted)",
                "ExpressionAttributeValues": {
                    ":yes": {"BOOL": True},
                    ":one": _n(1),
                    ":u": _s(user.user_id),
                    ":uu": _s(user.uuid),
                },
            }
        }

    def _bury_sessions(self, tenant: str, session_ids: Sequence[str], owner: tuple[str, str]) -> int:
        """Tombstone sessions of `owner` (user id, uuid) in parallel (each thread in a copy of this context: the
        deadline and the capacity measure apply)."""
        if not session_ids:
            return 0
        contexts = [copy_context() for _ in session_ids]
        with ThreadPoolExecutor(max_workers=8) as pool:
            buried = list(pool.map(lambda c, sid: c.run(self._bury_session, tenant, sid, owner), contexts, session_ids))
        return sum(record is not None for record in buried)

    def purge_user(self, tenant: str, user_id: str, user_uuid: str, version: int) -> int:
        """Sweep the sessions of the deleted incarnation `user_uuid` (a user created again since has another uuid, so
        a replayed record never touches its sessions), then drop the tombstone of `version` if it is still there."""
        doomed = self._incarnation_sessions(tenant, user_id, user_uuid)
        buried = self._bury_sessions(tenant, [r.session.session_id for r in doomed], (user_id, user_uuid))
        try:
            with store_errors():
                self._db.delete_item(
                    TableName=self._table,
                    Key=_user_key(tenant, user_id),
                    ConditionExpression="version = :v AND #uuid = :uu AND deleted = :yes",
                    ExpressionAttributeNames={"#uuid": "uuid"},
                    ExpressionAttributeValues={":v": _n(version), ":uu": _s(user_uuid), ":yes": {"BOOL": True}},
                )
        except ClientError as exc:
            if not _is_version_conflict(exc):
                raise
        return buried

    def _purge(self, tenant: str, session_id: str, up_to_ts: int) -> int:
        """Delete the messages at or before `up_to_ts`, the current summary and the summary history."""
        pk = keys.session_pk(tenant, session_id)
        doomed = [
            *self._range(pk, keys.MESSAGE_SK_PREFIX, keys.message_sk(up_to_ts), keys_only=True),
            *self._range(pk, keys.CURRENT_SUMMARY_SK, keys.summary_history_sk(up_to_ts), keys_only=True),
        ]
        item_keys = [{"PK": i["PK"], "SK": i["SK"]} for i in doomed]
        for start in range(0, len(item_keys), _BATCH_WRITE_SIZE):
            self._batch_delete(item_keys[start : start + _BATCH_WRITE_SIZE])
        return len(item_keys)

    def _batch_delete(self, item_keys: list[Item]) -> None:
        requests: list[Any] = [{"DeleteRequest": {"Key": k}} for k in item_keys]
        for _ in _attempts(self._retry_budget):
            with store_errors():
                response = self._db.batch_write_item(RequestItems={self._table: requests})
            requests = list(response.get("UnprocessedItems", {}).get(self._table, []))
            if not requests:
                return
        raise StoreUnavailableError("the memory store is busy; the deletion will finish when retried")

    def _drop_tombstone(self, tenant: str, session_id: str, version: int) -> None:
        """Remove the tombstone unless a writer has recreated the session meanwhile."""
        try:
            with store_errors():
                self._db.delete_item(
                    TableName=self._table,
                    Key={
                        keys.TABLE_PARTITION_KEY: _s(keys.session_pk(tenant, session_id)),
                        keys.TABLE_SORT_KEY: _s(keys.SESSION_SK),
                    },
                    ConditionExpression="version = :v AND deleted = :yes",
                    ExpressionAttributeValues={":v": _n(version), ":yes": {"BOOL": True}},
                )
        except ClientError as exc:
            if not _is_version_conflict(exc):
                raise


def _update_message_action(
    table: str, pk: str, sk: str, message_uuid: str, attributes: Item
) -> TransactWriteItemTypeDef:
    """Update a message in place (its position and created_at stay) when the caller re-sends its uuid."""
    names = {f"#a{i}": name for i, name in enumerate(attributes)}
    values: dict[str, AttributeValueTypeDef] = {f":a{i}": value for i, value in enumerate(attributes.values())}
    values[":u"] = _s(message_uuid)
    values[":one"] = _n(1)
    values[":zero"] = _n(0)
    set_clause = ", ".join(f"#a{i} = :a{i}" for i in range(len(attributes)))
    # A new metadata version: a metadata PATCH that read the old one re-reads.
    set_clause += f", {_METADATA_VERSION} = if_not_exists({_METADATA_VERSION}, :zero) + :one"
    remove_clause = "" if "metadata" in attributes else " REMOVE metadata"
    return {
        "Update": {
            "TableName": table,
            "Key": {keys.TABLE_PARTITION_KEY: _s(pk), keys.TABLE_SORT_KEY: _s(sk)},
            "UpdateExpression": f"SET {set_clause}{remove_clause}",
            "ConditionExpression": "MsgUuid = :u",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }
