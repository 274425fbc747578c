"""The Purger port: what a tombstone leaves (a session's messages and summaries, a user's sessions) deleted in the
background, woken by the tombstone's stream record; safe against the stream's replays."""

from __future__ import annotations

from typing import Any

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.items import Item, session_from_item, session_key, to_item, user_key
from chat_memory.adapters.dynamodb.sessions import bury_sessions, read_session
from chat_memory.adapters.dynamodb.table import GSI2, OnTable


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
        """Delete the messages at or before `up_to_ts` (their embeddings with them), the current summary and the
        summary history; with `markers`, the change markers too (else a recreated session's are left to TTL)."""
        pk = keys.session_pk(tenant, session_id)
        doomed = [
            *self._table.range(pk, keys.MESSAGE_SK_PREFIX, keys.message_sk(up_to_ts), keys_only=True),
            *self._table.range(pk, keys.CURRENT_SUMMARY_SK, keys.summary_history_sk(up_to_ts), keys_only=True),
        ]
        if markers:
            doomed += self._table.range(pk, keys.CHANGED_SK_PREFIX, keys.changed_sk(keys.LAST_TS, "~"), keys_only=True)
        self._table.batch_write([{"DeleteRequest": {"Key": {"PK": i["PK"], "SK": i["SK"]}}} for i in doomed])
        return len(doomed)

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
