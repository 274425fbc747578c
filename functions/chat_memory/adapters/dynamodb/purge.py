"""The Purger port: what a tombstone leaves (a session's messages and summaries, a user's sessions) deleted in the
background, woken by the tombstone's stream record; safe against the stream's replays."""

from __future__ import annotations

from typing import Any

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import attempts, store_errors
from chat_memory.adapters.dynamodb.items import Item, session_from_item, session_key, to_item, user_key
from chat_memory.adapters.dynamodb.sessions import bury_sessions, read_session
from chat_memory.adapters.dynamodb.table import GSI2, OnTable
from chat_memory.domain.errors import StoreUnavailableError

_BATCH_WRITE_SIZE = 25  # requests in one BatchWriteItem


class DynamoPurger(OnTable):
    """Purger on the table."""

    def purge_session(self, tenant: str, session_id: str, up_to_ts: int, version: int) -> int:
        """Delete what the tombstone of `version` left: messages and summaries up to `up_to_ts`, then the tombstone.

        Safe against replays (a stream redelivers records): it acts only while that tombstone is still there, or
        when the session was recreated over it (its messages then start after `up_to_ts`). Once the tombstone is
        gone the purge is done, and a session created since may have timestamps of any value.
        """
        current = read_session(self._table, tenant, session_id)
        if current is None:
            return 0
        if current.deleted and current.version == version:
            deleted = self._purge(tenant, session_id, up_to_ts, markers=True)
            self._drop_tombstone(tenant, session_id, version)
            return deleted
        if not current.deleted and current.first_ts > up_to_ts:
            return self._purge(tenant, session_id, up_to_ts, markers=False)
        return 0

    def purge_user(self, tenant: str, user_id: str, user_uuid: str, version: int) -> int:
        """Sweep the sessions of the deleted incarnation `user_uuid` (a user created again since has another uuid, so
        a replayed record never touches its sessions), then drop the tombstone of `version` if it is still there."""
        partition = keys.user_sessions_gsi_pk(tenant, user_id, user_uuid)
        doomed = [
            session_from_item(i) for i in self._table.listing(keys.SESSIONS_BY_USER_INDEX, GSI2, partition, None, None)
        ]
        buried = bury_sessions(self._table, tenant, [r.session.session_id for r in doomed], (user_id, user_uuid))
        self._delete_if(
            user_key(tenant, user_id),
            "version = :v AND #uuid = :uu AND deleted = :yes",
            to_item({":v": version, ":uu": user_uuid, ":yes": True}),
            names={"#uuid": "uuid"},
        )
        return buried

    def _purge(self, tenant: str, session_id: str, up_to_ts: int, *, markers: bool) -> int:
        """Delete the messages at or before `up_to_ts` (their embeddings with them), the current summary, the
        summary history and the search index's items of that incarnation; with `markers`, the change markers too
        (else a recreated session's are left to TTL)."""
        pk = keys.session_pk(tenant, session_id)
        doomed = [
            *self._table.range(pk, keys.MESSAGE_SK_PREFIX, keys.message_sk(up_to_ts), keys_only=True),
            *self._table.range(pk, keys.CURRENT_SUMMARY_SK, keys.summary_history_sk(up_to_ts), keys_only=True),
        ]
        if markers:
            doomed += self._table.range(pk, keys.CHANGED_SK_PREFIX, keys.changed_sk(keys.LAST_TS, "~"), keys_only=True)
        doomed += [
            i
            for i in self._table.range(pk, keys.INDEX_SK_PREFIX, keys.INDEX_SK_PREFIX + "~", keys_only=True)
            if keys.index_block_of(i["SK"]["S"]) <= up_to_ts  # a recreated session's blocks start after up_to_ts
        ]
        item_keys = [{"PK": i["PK"], "SK": i["SK"]} for i in doomed]
        for start in range(0, len(item_keys), _BATCH_WRITE_SIZE):
            self._batch_delete(item_keys[start : start + _BATCH_WRITE_SIZE])
        self._drop_index_head(pk, up_to_ts)
        return len(item_keys)

    def _drop_index_head(self, pk: str, up_to_ts: int) -> None:
        """Remove the search index's head if it is the deleted incarnation's (not a recreated session's)."""
        key = to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.INDEX_HEAD_SK})
        self._delete_if(key, "inc <= :up", to_item({":up": up_to_ts}))

    def _batch_delete(self, item_keys: list[Item]) -> None:
        requests: list[Any] = [{"DeleteRequest": {"Key": k}} for k in item_keys]
        table = self._table.name
        for _ in attempts(self._table.retry_budget):
            with store_errors():
                response = self._table.db.batch_write_item(RequestItems={table: requests})
            requests = list(response.get("UnprocessedItems", {}).get(table, []))
            if not requests:
                return
        raise StoreUnavailableError("the memory store is busy; the deletion will finish when retried")

    def _drop_tombstone(self, tenant: str, session_id: str, version: int) -> None:
        """Remove the tombstone unless a writer has recreated the session meanwhile."""
        values = to_item({":v": version, ":yes": True})
        self._delete_if(session_key(tenant, session_id), "version = :v AND deleted = :yes", values)

    def _delete_if(self, key: Item, condition: str, values: Item, names: dict[str, str] | None = None) -> None:
        """Delete the item if `condition` holds; else leave it (a writer got there first)."""
        request: dict[str, Any] = {"Key": key, "ConditionExpression": condition, "ExpressionAttributeValues": values}
        if names is not None:
            request["ExpressionAttributeNames"] = names
        self._table.write_if(self._table.db.delete_item, **request)
