"""What search reads: a session's messages (the newest strongly consistent, so a message is found as soon as
add_memory answered; the older ones eventually consistent, at half the price) and its summary history."""

from __future__ import annotations

from typing import Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.items import message_from_item, summary_from_item
from chat_memory.adapters.dynamodb.messages import DynamoMessages, messages_query
from chat_memory.adapters.dynamodb.sessions import live_session
from chat_memory.domain.models import StoredMessage, Summary

# The newest messages, read with the window's one strongly consistent Query (read your writes).
FRESH_MESSAGES: Final = 100
# Then at most this many 1 MB pages of the older ones: with the window, a search makes at most 20 DynamoDB calls
# (about 19 MB of messages; a longer session is searched in its newest 19 MB).
MAX_OLDER_PAGES: Final = 19


class DynamoSearch(DynamoMessages):
    """The reads of search (part of MemoryStore)."""

    def searchable_messages(self, tenant: str, session_id: str) -> list[StoredMessage] | None:
        window = self.read_window(tenant, session_id, FRESH_MESSAGES)
        if window is None:
            return None
        fresh = window.messages
        if len(fresh) < FRESH_MESSAGES:
            return fresh  # the whole session
        older = self._older_than(tenant, session_id, window.first_ts, fresh[0].ts)
        return older + fresh

    def _older_than(self, tenant: str, session_id: str, first_ts: int, before_ts: int) -> list[StoredMessage]:
        """The newest pages of the messages in [first_ts, before_ts), eventually consistent, oldest first."""
        query = messages_query(self._table, tenant, session_id, first_ts, before_ts - 1)
        query |= {"ScanIndexForward": False, "ConsistentRead": False}
        pages: list[list[StoredMessage]] = []
        for _ in range(MAX_OLDER_PAGES):
            with store_errors():
                page = self._table.db.query(**query)
            pages.append([message_from_item(i) for i in page.get("Items", [])])
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [m for page in reversed(pages) for m in reversed(page)]

    def summary_history(self, tenant: str, session_id: str) -> list[Summary] | None:
        record = live_session(self._table, tenant, session_id)
        if record is None:
            return None
        pk = keys.session_pk(tenant, session_id)
        lo, hi = keys.summary_history_sk(record.first_ts), keys.summary_history_sk(keys.LAST_TS)
        return [summary_from_item(i) for i in self._table.range(pk, lo, hi)]
