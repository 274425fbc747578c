"""What search reads: a session's messages (the newest strongly consistent, so a message is found as soon as
add_memory answered; the older ones eventually consistent, at half the price, with the ones changed in the last
minute read again strongly consistent: changes.py) with their embeddings, and its summary history."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.changes import recently_changed, reread
from chat_memory.adapters.dynamodb.embeddings import embedding_from_item
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.items import message_from_item, sort_key, summary_from_item
from chat_memory.adapters.dynamodb.messages import DynamoMessages, messages_query
from chat_memory.adapters.dynamodb.sessions import live_session
from chat_memory.domain.models import SearchableMessage, Summary

# The newest messages, read with the window's one strongly consistent Query (read your writes).
FRESH_MESSAGES: Final = 100
# Then at most this many 1 MB pages of the older ones. With the window, the change markers' Query and their re-read
# (at most 2 BatchGetItem calls), a search makes at most 20 DynamoDB calls (about 16 MB of messages; a longer
# session is searched in its newest 16 MB).
MAX_OLDER_PAGES: Final = 16


def _searchable(items: Iterable[Mapping[str, Any]]) -> list[SearchableMessage]:
    return [SearchableMessage(message_from_item(i), embedding_from_item(i)) for i in items]


class DynamoSearch(DynamoMessages):
    """The reads of search (part of MemoryStore)."""

    def searchable_messages(self, tenant: str, session_id: str) -> list[SearchableMessage] | None:
        window = self.read_window_items(tenant, session_id, FRESH_MESSAGES)
        if window is None:
            return None
        record, fresh = window.record, window.messages
        if len(fresh) < FRESH_MESSAGES or record.message_count <= len(fresh):
            return _searchable(fresh)  # the whole session, strongly consistent
        oldest_fresh = keys.ts_from_message_sk(sort_key(fresh[0]))
        older = self._older_than(tenant, session_id, record.first_ts, oldest_fresh)
        changed = [ts for ts in recently_changed(self._table, tenant, session_id) if ts < oldest_fresh]
        if changed:
            by_sk = {sort_key(i): i for i in older}
            by_sk |= {sort_key(i): i for i in reread(self._table, tenant, session_id, changed)}
            older = [by_sk[sk] for sk in sorted(by_sk)]
        return _searchable([*older, *fresh])

    def _older_than(self, tenant: str, session_id: str, first_ts: int, before_ts: int) -> list[Mapping[str, Any]]:
        """The newest pages of the message items in [first_ts, before_ts), eventually consistent, oldest first."""
        query = messages_query(self._table, tenant, session_id, first_ts, before_ts - 1)
        query |= {"ScanIndexForward": False, "ConsistentRead": False}
        pages: list[Sequence[Mapping[str, Any]]] = []
        for _ in range(MAX_OLDER_PAGES):
            with store_errors():
                page = self._table.db.query(**query)
            pages.append(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return [i for page in reversed(pages) for i in reversed(page)]

    def summary_history(self, tenant: str, session_id: str) -> list[Summary] | None:
        record = live_session(self._table, tenant, session_id)
        if record is None:
            return None
        pk = keys.session_pk(tenant, session_id)
        lo, hi = keys.summary_history_sk(record.first_ts), keys.summary_history_sk(keys.LAST_TS)
        return [summary_from_item(i) for i in self._table.range(pk, lo, hi)]
