"""The SummaryStore port (the summariser's side of perpetual memory): the current summary under its `version`, the
summary history, and the messages a summary folds in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import (
    is_throttled_transaction,
    is_version_conflict,
    store_errors,
    unavailable,
)
from chat_memory.adapters.dynamodb.items import (
    current_summary_item,
    from_item,
    history_summary_item,
    message_from_item,
    session_from_item,
    sort_key,
    summary_from_item,
    to_item,
)
from chat_memory.adapters.dynamodb.sessions import is_gone
from chat_memory.adapters.dynamodb.table import OnTable
from chat_memory.domain.models import StoredMessage, Summary, SummaryState

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class DynamoSummaries(OnTable):
    """SummaryStore on the table."""

    def summary_state(self, tenant: str, session_id: str) -> SummaryState | None:
        items = self._table.range(keys.session_pk(tenant, session_id), keys.SESSION_SK, keys.CURRENT_SUMMARY_SK)
        by_sk = {sort_key(i): i for i in items}
        session_item = by_sk.get(keys.SESSION_SK)
        if session_item is None:
            return None
        record = session_from_item(session_item)
        if is_gone(record, self._table.clock()):
            return None  # deleted, or past its retention period: nothing to summarise
        summary_item = by_sk.get(keys.CURRENT_SUMMARY_SK)
        summary = summary_from_item(summary_item) if summary_item else None
        version = int(from_item(summary_item)["version"]) if summary_item else 0
        if summary is not None and summary.recent_message_ts < record.first_ts:
            summary = None  # a deleted incarnation's; overwritten (by version) with this one's first summary
        return SummaryState(
            first_ts=record.first_ts, summary=summary, version=version, instruction=record.summary_instruction
        )

    def message_timestamps(
        self, tenant: str, session_id: str, after_ts: int, limit: int, newest_first: bool
    ) -> list[int]:
        items = self._table.range(
            keys.session_pk(tenant, session_id),
            keys.message_sk(after_ts + 1),
            keys.LAST_MESSAGE_SK,
            limit=limit,
            newest_first=newest_first,
            keys_only=True,
        )
        return [keys.ts_from_message_sk(sort_key(i)) for i in items]

    def messages_between(
        self, tenant: str, session_id: str, after_ts: int, before_ts: int, limit: int
    ) -> list[StoredMessage]:
        if before_ts - after_ts < 2:
            return []
        pk = keys.session_pk(tenant, session_id)
        items = self._table.range(pk, keys.message_sk(after_ts + 1), keys.message_sk(before_ts - 1), limit=limit)
        return [message_from_item(i) for i in items]

    def write_summary(self, tenant: str, session_id: str, summary: Summary, expected_version: int) -> bool:
        pk = keys.session_pk(tenant, session_id)
        current: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table.name,
                "Item": current_summary_item(pk, summary, expected_version + 1),
                # Two summarisers of one session (a retried batch, a replayed stream): only one moves it on.
                "ConditionExpression": "attribute_not_exists(PK) OR version = :v",
                "ExpressionAttributeValues": to_item({":v": expected_version}),
            }
        }
        history_item = history_summary_item(pk, summary)
        history: TransactWriteItemTypeDef = {"Put": {"TableName": self._table.name, "Item": history_item}}
        try:
            with store_errors():
                self._table.db.transact_write_items(TransactItems=[current, history])
        except ClientError as exc:
            if is_version_conflict(exc):
                return False
            if is_throttled_transaction(exc):
                raise unavailable() from exc
            raise
        return True
