"""Change markers: search reads its writes for the messages it reads eventually consistently.

Search reads a long session's older messages with eventually consistent Queries, which may miss a write of the
last moment. So a write that changes stored messages (add_memory resending a uuid, a metadata PATCH) first puts a
small marker naming them (their timestamps: no content); search reads the markers with one strongly consistent
Query (at once with its first reads, so before it knows how far back it must look: the last CHANGE_HORIZON, or
since its index last synced) and re-reads what they name with one strongly consistent BatchGetItem. A marker
written by a write that then failed only costs that re-read. Markers expire by TTL.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.batch_get import batch_get_twice
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.items import sort_key, to_item
from chat_memory.adapters.dynamodb.table import Table

# How far back search looks: far past DynamoDB's replication delay (well under a second, not bounded by a document).
CHANGE_HORIZON_MICROS: Final = 60 * 1_000_000
MARKER_LIFETIME_SECONDS: Final = 3_600  # then DynamoDB's TTL deletes them (up to a few days later)
MAX_REREAD: Final = 100  # messages re-read per search (one BatchGetItem); past this, those of the newest changes
_TS_ATTR: Final = "changed"


def mark_changed(table: Table, tenant: str, session_id: str, message_ts: Collection[int]) -> None:
    """Record that a write is about to change the messages at `message_ts` (before it writes them)."""
    if not message_ts:
        return
    now = table.clock()
    item = to_item(
        {
            keys.TABLE_PARTITION_KEY: keys.session_pk(tenant, session_id),
            keys.TABLE_SORT_KEY: keys.changed_sk(now, uuid.uuid4().hex[:12]),
            keys.TTL_ATTR: now // 1_000_000 + MARKER_LIFETIME_SECONDS,
        }
    )
    item[_TS_ATTR] = {"NS": [str(ts) for ts in sorted(set(message_ts))]}
    with store_errors():
        table.db.put_item(TableName=table.name, Item=item)


# Markers search reads (the newest first): past this many, the changes of the oldest are not re-read.
MAX_MARKERS: Final = 2 * MAX_REREAD


@dataclass(frozen=True, slots=True)
class Changes:
    """The change markers of a session still alive (their lifetime), newest first: (when, the messages' ts)."""

    markers: tuple[tuple[int, tuple[int, ...]], ...]

    def since(self, micros: int) -> list[int]:
        """The timestamps of the messages changed at or after `micros`, those of the newest changes first (at most
        MAX_REREAD)."""
        changed: dict[int, None] = {}
        for at, message_ts in self.markers:
            if at < micros:
                break
            for ts in message_ts:
                changed.setdefault(ts)
        return list(changed)[:MAX_REREAD]


def recent_changes(table: Table, tenant: str, session_id: str) -> Changes:
    """The session's change markers of their lifetime, the newest MAX_MARKERS: one strongly consistent Query (read
    before knowing how far back a search must look: see Changes.since)."""
    pk = keys.session_pk(tenant, session_id)
    since = keys.changed_sk(max(0, table.clock() - MARKER_LIFETIME_SECONDS * 1_000_000))
    found = table.range(pk, since, keys.changed_sk(keys.LAST_TS, "~"), limit=MAX_MARKERS, newest_first=True)
    return Changes(
        tuple(
            (keys.ts_from_changed_sk(sort_key(m)), tuple(int(ts) for ts in m.get(_TS_ATTR, {}).get("NS", [])))
            for m in found
        )
    )


def reread(table: Table, tenant: str, session_id: str, message_ts: Collection[int]) -> list[Mapping[str, Any]]:
    """The message items at `message_ts` (at most MAX_REREAD), strongly consistent; those not found are left out
    (one BatchGetItem, and one more for the keys DynamoDB left unprocessed)."""
    pk = keys.session_pk(tenant, session_id)
    wanted = [to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.message_sk(ts)}) for ts in message_ts]
    return batch_get_twice(table.db, table.name, wanted, consistent=True)
