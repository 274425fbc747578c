"""Reading messages (the window, pages, one by uuid) and a message's metadata PATCH: the message half of the
MemoryStore port but add_memory (appends.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from typing import Any

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.budget import budgeted_window
from chat_memory.adapters.dynamodb.changes import mark_changed
from chat_memory.adapters.dynamodb.errors import attempts, store_errors
from chat_memory.adapters.dynamodb.items import (
    SessionRecord,
    dump_json,
    message_from_item,
    session_from_item,
    sort_key,
    stored_uuid,
    summary_from_item,
    to_item,
)
from chat_memory.adapters.dynamodb.message_ids import located_ts
from chat_memory.adapters.dynamodb.sessions import is_gone, live_session
from chat_memory.adapters.dynamodb.sizes import ensure_item_fits, item_size
from chat_memory.adapters.dynamodb.table import OnTable, Table
from chat_memory.domain.errors import StoreUnavailableError
from chat_memory.domain.models import JsonObject, MessagePage, Position, StoredMessage, Summary, Window, deep_merge

METADATA_VERSION = "mv"  # a message's metadata version: the condition of a metadata PATCH


@dataclass(frozen=True, slots=True)
class WindowItems:
    """A window as stored: the session, the current summary's item if any, the newest message items oldest first."""

    record: SessionRecord
    summary: Mapping[str, Any] | None
    messages: list[Mapping[str, Any]]
    cut_by_budget: bool = False


# The condition that a message item still carries this uuid, wherever it is stored (items.message_key_item).
UUID_CONDITION = f"({keys.MESSAGE_UUID_ATTR} = :u OR #uuid = :u)"
UUID_NAMES = {"#uuid": keys.LOCATED_UUID_ATTR}


def located_message(table: Table, pk: str, message_uuid: str, first_ts: int) -> Mapping[str, Any] | None:
    """The message of this incarnation that a uuid of our form (message_ids.py) says it is: one strongly
    consistent GetItem at the timestamp it carries, the stored uuid compared in full. None for any other uuid,
    or when the message there has another uuid (a caller's uuid that only looks like ours)."""
    ts = located_ts(message_uuid)
    if ts is None or ts < first_ts or ts > keys.LAST_TS:
        return None
    item = table.get(to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.message_sk(ts)}))
    return item if item is not None and stored_uuid(item) == message_uuid else None


def indexed_message_sk(table: Table, pk: str, message_uuid: str, first_ts: int) -> str | None:
    """The sort key of this incarnation's message stored with `message_uuid` as the LSI's key (a caller's)."""
    with store_errors():
        page = table.db.query(
            TableName=table.name,
            IndexName=keys.MESSAGE_UUID_INDEX,
            KeyConditionExpression=f"PK = :pk AND {keys.MESSAGE_UUID_ATTR} = :u",
            ExpressionAttributeValues=to_item({":pk": pk, ":u": message_uuid}),
            ConsistentRead=True,  # an LSI reads its own writes
        )
    sks = [sort_key(item) for item in page.get("Items", [])]
    return next((sk for sk in sks if keys.ts_from_message_sk(sk) >= first_ts), None)


def existing_message_sks(
    table: Table, tenant: str, session_id: str, message_uuids: Sequence[str], first_ts: int
) -> dict[str, str]:
    """uuid -> sort key, for the uuids already stored in this incarnation of the session: a uuid of our form by
    one GetItem, any other (or one of our form not found there) by one LSI Query."""
    found: dict[str, str] = {}
    pk = keys.session_pk(tenant, session_id)
    for message_uuid in message_uuids:
        located = located_message(table, pk, message_uuid, first_ts)
        sk = sort_key(located) if located is not None else indexed_message_sk(table, pk, message_uuid, first_ts)
        if sk is not None:
            found[message_uuid] = sk
    return found


def messages_query(table: Table, tenant: str, session_id: str, first_ts: int, last_ts: int) -> dict[str, Any]:
    """A Query of the session's messages with first_ts <= ts <= last_ts (oldest first, strongly consistent: the
    caller may change either)."""
    return {
        "TableName": table.name,
        "KeyConditionExpression": "PK = :pk AND SK BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": to_item(
            {
                ":pk": keys.session_pk(tenant, session_id),
                ":lo": keys.message_sk(first_ts),
                ":hi": keys.message_sk(last_ts),
            }
        ),
        "ConsistentRead": True,
    }


class DynamoMessages(OnTable):
    """The messages of MemoryStore, as read (and their metadata changed)."""

    def read_window_items(
        self, tenant: str, session_id: str, limit: int, token_budget: int | None = None, *, since_ts: int = 0
    ) -> WindowItems | None:
        """The current summary, the session and its newest `limit` messages (none older than `since_ts`) in one
        descending Query.

        'MSG#...' < 'SESSION' < 'SESSION#SUMMARY': the summary (when there is one) and the session item come
        first, then the messages, newest first. The cost is that of the items returned, whatever the length of
        the history. With `token_budget`, the Query stops at the first message that would not fit with the
        summary's tokens (pages sized by the tokens per message seen so far).
        """
        pk = keys.session_pk(tenant, session_id)
        if token_budget is None:
            lo = keys.message_sk(since_ts) if since_ts else keys.MESSAGE_SK_PREFIX
            items = self._table.range(pk, lo, keys.CURRENT_SUMMARY_SK, limit=limit + 2, newest_first=True)
            cut = False
        else:
            items, cut = budgeted_window(self._table, pk, limit, token_budget)
        summary_item = items.pop(0) if items and sort_key(items[0]) == keys.CURRENT_SUMMARY_SK else None
        if not items or sort_key(items[0]) != keys.SESSION_SK:
            return None
        record = session_from_item(items[0])
        if is_gone(record, self._table.clock()):
            return None
        # Leftovers of a deleted incarnation are all older than first_ts: they can only trail the list.
        messages = [i for i in items[1 : limit + 1] if keys.ts_from_message_sk(sort_key(i)) >= record.first_ts]
        messages.reverse()
        return WindowItems(record, summary_item, messages, cut)

    def read_window(self, tenant: str, session_id: str, limit: int, token_budget: int | None = None) -> Window | None:
        window = self.read_window_items(tenant, session_id, limit, token_budget)
        if window is None:
            return None
        record = window.record
        summary = summary_from_item(window.summary) if window.summary else None
        if summary is not None and summary.recent_message_ts < record.first_ts:
            summary = None  # written for a deleted incarnation
        messages = [message_from_item(i) for i in window.messages]
        return Window(
            session=record.session,
            messages=messages,
            summary=summary,
            first_ts=record.first_ts,
            cut_by_budget=window.cut_by_budget,
        )

    def summary_before(self, tenant: str, session_id: str, before_ts: int, not_before_ts: int) -> Summary | None:
        if before_ts <= not_before_ts:
            return None
        items = self._table.range(
            keys.session_pk(tenant, session_id),
            keys.summary_history_sk(not_before_ts),
            keys.summary_history_sk(before_ts - 1),
            limit=1,
            newest_first=True,
        )
        return summary_from_item(items[0]) if items else None

    def message_page(
        self, tenant: str, session_id: str, skip: int, after: Position | None, read_ahead: int
    ) -> MessagePage | None:
        """The session's messages oldest first, after `after` or skipping `skip`, read lazily. Skipping costs reading
        what it skips (Zep's clients page by page number)."""
        record = live_session(self._table, tenant, session_id)
        if record is None:
            return None
        if skip >= record.message_count:
            return MessagePage(messages=iter(()), total_count=record.message_count)
        first_ts = record.first_ts if after is None else max(record.first_ts, after.ts + 1)
        query = messages_query(self._table, tenant, session_id, first_ts, keys.LAST_TS) | {"Limit": skip + read_ahead}
        items = islice(self._table.items(query), skip, None)
        return MessagePage(messages=(message_from_item(i) for i in items), total_count=record.message_count)

    def _message_item(self, record: SessionRecord, tenant: str, message_uuid: str) -> Mapping[str, Any] | None:
        """A message of the session's current incarnation by uuid: a uuid of our form is its key (one GetItem);
        any other is looked up in the LSI, consistently, then read (a Query and a GetItem)."""
        pk = keys.session_pk(tenant, record.session.session_id)
        located = located_message(self._table, pk, message_uuid, record.first_ts)
        if located is not None:
            return located
        sk = indexed_message_sk(self._table, pk, message_uuid, record.first_ts)
        if sk is None:
            return None
        return self._table.get(to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: sk}))

    def get_message(self, tenant: str, session_id: str, message_uuid: str) -> StoredMessage | None:
        record = live_session(self._table, tenant, session_id)
        item = self._message_item(record, tenant, message_uuid) if record else None
        return message_from_item(item) if item else None

    def update_message_metadata(
        self, tenant: str, session_id: str, message_uuid: str, metadata_patch: JsonObject
    ) -> StoredMessage | None:
        """Deep-merge into the message's metadata, conditional on the metadata read (a lost race re-reads)."""
        marked = False
        for _ in attempts(self._table.retry_budget):
            record = live_session(self._table, tenant, session_id)
            item = self._message_item(record, tenant, message_uuid) if record else None
            if item is None:
                return None
            message = message_from_item(item)
            merged = deep_merge(message.metadata or {}, metadata_patch)
            ensure_item_fits(
                {**item, "metadata": {"S": dump_json(merged)}}, "the message with its metadata", before=item_size(item)
            )
            # The metadata's version, not its old value, is the condition: the request stays small.
            seen = item.get(METADATA_VERSION)
            condition = f"{METADATA_VERSION} = :seen" if seen else f"attribute_not_exists({METADATA_VERSION})"
            values = to_item({":m": dump_json(merged), ":u": message_uuid, ":next": int(seen["N"]) + 1 if seen else 1})
            if seen:
                values[":seen"] = seen
            if not marked:  # before the write, so that search re-reads it from then on (changes.py)
                mark_changed(self._table, tenant, session_id, [message.ts])
                marked = True
            written = self._table.write_if(
                self._table.db.update_item,
                Key={keys.TABLE_PARTITION_KEY: item["PK"], keys.TABLE_SORT_KEY: item["SK"]},
                UpdateExpression=f"SET metadata = :m, {METADATA_VERSION} = :next",
                ConditionExpression=f"{UUID_CONDITION} AND {condition}",
                ExpressionAttributeNames=UUID_NAMES,
                ExpressionAttributeValues=values,
            )
            if not written:
                continue
            return replace(message, metadata=merged)
        raise StoreUnavailableError("too many concurrent writes to this message; retry shortly")
