"""The Purger port: what a tombstone leaves (a session's messages and summaries, a user's sessions) deleted in the
background, woken by the tombstone's stream record; safe against the stream's replays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.items import Item, from_item, session_from_item, session_key, to_item, user_key
from chat_memory.adapters.dynamodb.sessions import bury_sessions, read_session
from chat_memory.adapters.dynamodb.table import GSI2, OnTable
from chat_memory.domain.models import Position
from chat_memory.domain.retention import DeletionReason, DeletionReceipt, receipt_expiry


class DynamoPurger(OnTable):
    """Purger on the table."""

    def purge_session(
        self,
        tenant: str,
        session_id: str,
        up_to_ts: int,
        version: int,
        reason: DeletionReason = DeletionReason.DELETE,
        deleted_ts: int = 0,
    ) -> int:
        """Delete what the tombstone of `version` left: messages and summaries up to `up_to_ts`, then the tombstone,
        leaving a receipt (of `reason`, the deletion at `deleted_ts`) before the tombstone goes.

        Safe against replays (a stream redelivers records): it acts only while that tombstone is still there, or
        when the session was recreated over it (its messages then start after `up_to_ts`). Once the tombstone is
        gone the purge is done, and a session created since may have timestamps of any value. A replay writes no
        second receipt (the receipt's key is the deletion's time and the session).
        """
        current = read_session(self._table, tenant, session_id)
        if current is None:
            return 0
        if current.deleted and current.version == version:
            deleted = self._purge(tenant, session_id, up_to_ts, markers=True)
            self._write_receipt(tenant, DeletionReceipt(session_id, deleted_ts, deleted + 1, reason))  # + tombstone
            self._drop_tombstone(tenant, session_id, version)
            return deleted
        if not current.deleted and current.first_ts > up_to_ts:
            deleted = self._purge(tenant, session_id, up_to_ts, markers=False)
            self._write_receipt(tenant, DeletionReceipt(session_id, deleted_ts, deleted, reason))
            return deleted
        return 0

    def purge_expired(self, tenant: str, session_id: str, up_to_ts: int, expired_at: int) -> int:
        """Delete what a session item that DynamoDB's TTL removed (at the end of its retention period, `expired_at`
        in epoch seconds) left: its messages and summaries up to its `last_ts`, `up_to_ts`; then a receipt.

        A session created since (no item to replace: a new session) starts past its creation time, after every old
        message; one recreated over a tombstone starts past `last_ts` too. Either way only older items go.
        """
        current = read_session(self._table, tenant, session_id)
        if current is not None and current.first_ts <= up_to_ts:
            return 0  # not a later incarnation: nothing of ours to touch (a replay after an import, say)
        deleted = self._purge(tenant, session_id, up_to_ts, markers=current is None)
        receipt = DeletionReceipt(session_id, expired_at * 1_000_000, deleted + 1, DeletionReason.RETENTION)
        self._write_receipt(tenant, receipt)  # + the session item TTL deleted
        return deleted

    def _write_receipt(self, tenant: str, receipt: DeletionReceipt) -> None:
        """The receipt of a finished purge, unless a replay wrote it already (the first count stays)."""
        item = to_item(
            {
                keys.TABLE_PARTITION_KEY: keys.deletions_pk(tenant),
                keys.TABLE_SORT_KEY: keys.deletion_sk(receipt.deleted_ts, receipt.session_id),
                "session_id": receipt.session_id,
                "deleted_ts": receipt.deleted_ts,
                "items_deleted": receipt.items_deleted,
                "reason": receipt.reason.value,
                keys.TTL_ATTR: receipt_expiry(receipt.deleted_ts),
            }
        )
        self._table.write_if(self._table.db.put_item, Item=item, ConditionExpression="attribute_not_exists(PK)")

    def deletion_receipts(self, tenant: str, before: Position | None, read_ahead: int) -> Iterator[DeletionReceipt]:
        """The tenant's receipts, newest first, older than `before`; read lazily, `read_ahead` a page."""
        condition = "PK = :pk"
        values = to_item({":pk": keys.deletions_pk(tenant)})
        if before is not None:
            condition += " AND SK < :before"
            values |= to_item({":before": keys.deletion_sk(before.ts, before.id)})
        query: dict[str, Any] = {
            "TableName": self._table.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": read_ahead,
        }
        now_s = self._table.clock() // 1_000_000
        for item in self._table.items(query):
            v = from_item(item)
            if v.get(keys.TTL_ATTR) is not None and int(v[keys.TTL_ATTR]) <= now_s:
                continue  # past its 90 days: TTL removes it soon
            yield DeletionReceipt(
                session_id=str(v["session_id"]),
                deleted_ts=int(v["deleted_ts"]),
                items_deleted=int(v["items_deleted"]),
                reason=DeletionReason(str(v["reason"])),
            )

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
        """Delete the messages at or before `up_to_ts` (their embeddings with them), the summary history, the search
        index's items of that incarnation and the current summary; with `markers` (no live session), the change
        markers too. Without (a session lives there now: recreated), its change markers are left to TTL and the
        current summary goes only if it is the old incarnation's (a conditional delete: the new one's summariser
        may have written its own)."""
        pk = keys.session_pk(tenant, session_id)
        summaries_from = keys.CURRENT_SUMMARY_SK if markers else keys.SUMMARY_HISTORY_PREFIX
        doomed = [
            *self._table.range(pk, keys.MESSAGE_SK_PREFIX, keys.message_sk(up_to_ts), keys_only=True),
            *self._table.range(pk, summaries_from, keys.summary_history_sk(up_to_ts), keys_only=True),
        ]
        if markers:
            doomed += self._table.range(pk, keys.CHANGED_SK_PREFIX, keys.changed_sk(keys.LAST_TS, "~"), keys_only=True)
        doomed += [
            i
            for i in self._table.range(pk, keys.INDEX_SK_PREFIX, keys.INDEX_SK_PREFIX + "~", keys_only=True)
            if keys.index_block_of(i["SK"]["S"]) <= up_to_ts  # a recreated session's blocks start after up_to_ts
        ]
        self._table.batch_write([{"DeleteRequest": {"Key": {"PK": i["PK"], "SK": i["SK"]}}} for i in doomed])
        deleted = len(doomed)
        self._drop_index_head(pk, up_to_ts)
        if not markers:
            current = to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.CURRENT_SUMMARY_SK})
            old = to_item({":up": up_to_ts})
            if self._table.write_if(
                self._table.db.delete_item,
                Key=current,
                ConditionExpression="point_ts <= :up",
                ExpressionAttributeValues=old,
            ):
                deleted += 1
        return deleted

    def _drop_index_head(self, pk: str, up_to_ts: int) -> None:
        """Remove the search index's head if it is the deleted incarnation's (not a recreated session's)."""
        key = to_item({keys.TABLE_PARTITION_KEY: pk, keys.TABLE_SORT_KEY: keys.INDEX_HEAD_SK})
        self._delete_if(key, "inc <= :up", to_item({":up": up_to_ts}))

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
