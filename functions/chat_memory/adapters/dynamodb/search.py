"""What search reads: a session's messages (the newest strongly consistent, so a message is found as soon as
add_memory answered; the older ones eventually consistent, at half the price, with the ones changed lately read
again strongly consistent: changes.py) with their embeddings, and its summary history. With a search index
(index.py), only the messages the index has not covered yet are read in full, and the index for the rest
(index_reads.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from typing import Any, Final

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.changes import CHANGE_HORIZON_MICROS, Changes, recent_changes, reread
from chat_memory.adapters.dynamodb.embeddings import embedding_from_item
from chat_memory.adapters.dynamodb.errors import store_errors
from chat_memory.adapters.dynamodb.index import read_head
from chat_memory.adapters.dynamodb.index_reads import DynamoIndexReads, within_call_budget
from chat_memory.adapters.dynamodb.indexed_range import cheaper_whole, ranges
from chat_memory.adapters.dynamodb.items import SessionRecord, message_from_item, sort_key, summary_from_item
from chat_memory.adapters.dynamodb.messages import DynamoMessages, messages_query
from chat_memory.adapters.dynamodb.parallel import AtOnce
from chat_memory.adapters.dynamodb.sessions import live_session
from chat_memory.adapters.dynamodb.sizes import item_size
from chat_memory.adapters.dynamodb.table import Table
from chat_memory.domain.models import SearchableMessage, Span, Summary
from chat_memory.domain.search_index import IndexHead, SearchView

# Messages written less than this long ago are read strongly consistent (read your writes); the change markers
# cover a change to an older one.
STRONG_HORIZON_MICROS: Final = CHANGE_HORIZON_MICROS
# The newest messages, read in full. Those of the last STRONG_HORIZON come from one strongly consistent Query
# (read your writes); the rest of them from an eventually consistent one (half the price), with the change
# markers' re-read, as for the older messages. Both Queries, the markers' and the index head's are made at once.
FRESH_MESSAGES: Final = 100
# Then at most this many 1 MB pages of the older ones. With those four calls and the markers' re-read (at most 2
# BatchGetItem calls), a search makes at most 20 DynamoDB calls (about 14 MB of messages; a longer session is
# searched in its newest 14 MB when it has no index).
MAX_OLDER_PAGES: Final = 14
# With an index: at most this many pages of the messages it does not cover yet (past them: searched as without an
# index); with the first four calls, the term buckets' pages (index_reads.py), the blocks' timestamps and two
# BatchGetItem pairs, 20 calls at most.
MAX_TAIL_PAGES: Final = 4
# Blocks sealed less than this long ago are read as messages, not from the index: an eventually consistent read
# of their items might not see them yet.
TRUST_INDEX_AFTER_MICROS: Final = CHANGE_HORIZON_MICROS


def _searchable(items: Iterable[Mapping[str, Any]]) -> list[SearchableMessage]:
    return [SearchableMessage(message_from_item(i), embedding_from_item(i)) for i in items]


def _mean_size(items: Sequence[Mapping[str, Any]], sample: int = 10) -> float:
    """The mean stored size of `items`, from about `sample` of them spread over them (an estimate for a cost
    comparison, kept off the hot path: measuring all 100 newest messages costs about 0.6 ms)."""
    picked = items[:: max(1, len(items) // sample)]
    return sum(map(item_size, picked)) / max(len(picked), 1)


def _ts(item: Mapping[str, Any]) -> int:
    return keys.ts_from_message_sk(sort_key(item))


def _with(items: Sequence[Mapping[str, Any]], again: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """`items` (oldest first) with the messages read `again` in their place (or added in order)."""
    if not again:
        return list(items)
    by_sk = {sort_key(i): i for i in items} | {sort_key(i): i for i in again}
    return [by_sk[sk] for sk in sorted(by_sk)]


@dataclass(frozen=True, slots=True)
class Newest:
    """The session and its newest messages, oldest first (each message at or after `strong_from` read strongly
    consistent), its change markers and (when asked for) its index head: what a search reads first, at once."""

    record: SessionRecord
    messages: list[Mapping[str, Any]]
    strong_from: int
    changes: Changes
    head: IndexHead | None = None

    @property
    def whole(self) -> bool:
        """Whether these are all the session's messages."""
        return self.record.message_count <= len(self.messages)

    @property
    def oldest_ts(self) -> int:
        """Where the older messages end: the oldest of these (none: an eventually consistent read found none of
        those before `strong_from`)."""
        return _ts(self.messages[0]) if self.messages else self.strong_from

    def older_range(self, span: Span) -> tuple[int, int]:
        """[first_ts, before_ts) of the older messages within `span` (inclusive bounds, None: unbounded)."""
        low, high = span
        first = self.record.first_ts if low is None else max(self.record.first_ts, low)
        return first, self.oldest_ts if high is None else min(self.oldest_ts, high + 1)

    def changed(self, since: int) -> list[int]:
        """The messages changed since `since` that were read eventually consistently (they must be read again)."""
        return [ts for ts in self.changes.since(since) if ts < self.strong_from]


class OlderPages:
    """The message items in [first_ts, before_ts), newest pages first, eventually consistent (unless told
    otherwise), read on demand (the first page of `first_limit` items when given: about what is wanted, not
    1 MB)."""

    def __init__(
        self,
        table: Table,
        tenant: str,
        session_id: str,
        first_ts: int,
        before_ts: int,
        first_limit: int | None = None,
        *,
        consistent: bool = False,
    ) -> None:
        self._table = table
        self._query = messages_query(table, tenant, session_id, first_ts, before_ts - 1)
        self._query |= {"ScanIndexForward": False, "ConsistentRead": consistent}
        if first_limit is not None:
            self._query["Limit"] = max(1, first_limit)
        self._pages: list[Sequence[Mapping[str, Any]]] = []
        self.complete = before_ts <= first_ts

    def read(self, max_pages: int, stop_at: int | None = None, enough: int | None = None) -> bool:
        """Read on, at most `max_pages` pages in all, until the end of the range, (with `stop_at`) a message at
        or before `stop_at` or (with `enough`) that many messages in all; whether it got there."""
        while not self.complete and len(self._pages) < max_pages:
            if enough is not None and sum(map(len, self._pages)) >= enough:
                return True
            with store_errors():
                page = self._table.db.query(**self._query)
            items = page.get("Items", [])
            self._pages.append(items)
            self._query.pop("Limit", None)
            if "LastEvaluatedKey" not in page:
                self.complete = True
            else:
                self._query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            if stop_at is not None and items and _ts(items[-1]) <= stop_at:
                return True
        return self.complete

    def newest_first(self, max_pages: int) -> Iterator[Sequence[Mapping[str, Any]]]:
        """Each page read on, its items newest first, until the end of the range or `max_pages` pages in all."""
        while not self.complete and len(self._pages) < max_pages:
            self.read(len(self._pages) + 1)
            yield self._pages[-1]

    def items(self) -> list[Mapping[str, Any]]:
        """What was read, oldest first."""
        return [i for page in reversed(self._pages) for i in reversed(page)]


class DynamoSearch(DynamoMessages, DynamoIndexReads):
    """The reads of search (part of MemoryStore, and SearchIndexStore)."""

    def searchable_messages(
        self, tenant: str, session_id: str, span: Span = (None, None)
    ) -> list[SearchableMessage] | None:
        newest = self._newest(tenant, session_id)
        if newest is None:
            return None
        if newest.whole:
            return _searchable(self._reread(tenant, session_id, newest.messages, self._changed(newest)))
        return self._unindexed(tenant, session_id, newest, span=span).messages

    def newest_matching(
        self,
        tenant: str,
        session_id: str,
        keep: Callable[[SearchableMessage], bool],
        limit: int,
        span: Span = (None, None),
    ) -> list[SearchableMessage] | None:
        """As searchable_messages reads them (with the changes' re-read), newest first: the newest messages, then
        1 MB pages of older ones, until `limit` are kept (at most MAX_OLDER_PAGES pages)."""
        newest = self._newest(tenant, session_id)
        if newest is None:
            return None
        changed = self._changed(newest)
        again = {sort_key(i): i for i in reread(self._table, tenant, session_id, changed)} if changed else {}
        batches: Iterator[Sequence[Mapping[str, Any]]] = iter([newest.messages[::-1]])
        if not newest.whole:
            older = OlderPages(self._table, tenant, session_id, *newest.older_range(span))
            batches = chain(batches, older.newest_first(MAX_OLDER_PAGES))
        kept: list[SearchableMessage] = []
        for batch in batches:
            for message in _searchable(again.get(sort_key(i), i) for i in batch):
                if keep(message):
                    kept.append(message)
                    if len(kept) == limit:
                        return kept
        return kept

    def search_view(self, tenant: str, session_id: str, span: Span = (None, None)) -> SearchView | None:
        """The newest messages and, when the session has a usable index, its head (see SearchView); without one,
        of the older messages those in `span` (as searchable_messages reads them)."""
        newest = self._newest(tenant, session_id, with_head=True)
        if newest is None:
            return None
        if newest.whole:
            return SearchView(_searchable(self._reread(tenant, session_id, newest.messages, self._changed(newest))))
        head = newest.head
        if head is not None and head.incarnation == newest.record.first_ts:
            return self._indexed(tenant, session_id, newest, head)
        return self._unindexed(tenant, session_id, newest, span=span)

    def _newest(self, tenant: str, session_id: str, *, with_head: bool = False) -> Newest | None:
        """At once: the session with its newest FRESH_MESSAGES messages (those since STRONG_HORIZON ago strongly
        consistent, the others eventually), its change markers and (`with_head`) its index head."""
        since = self._table.clock() - STRONG_HORIZON_MICROS
        rest = OlderPages(self._table, tenant, session_id, 0, since, FRESH_MESSAGES)
        with AtOnce() as calls:
            window = calls.start(partial(self.read_window_items, tenant, session_id, FRESH_MESSAGES, since_ts=since))
            rest_read = calls.start(partial(rest.read, 1, enough=FRESH_MESSAGES))
            changes = calls.start(partial(recent_changes, self._table, tenant, session_id))
            head = calls.start(partial(read_head, self._table, tenant, session_id)) if with_head else None
        found, _ = window.result(), rest_read.result()
        if found is None:
            return None
        record, fresh = found.record, found.messages
        indexed = head.result() if head is not None else None
        if len(fresh) >= FRESH_MESSAGES:  # the last minute's alone: the rest was read for nothing
            return Newest(record, fresh, _ts(fresh[0]), changes.result(), indexed)
        # Leftovers of a deleted incarnation are all older than first_ts.
        older = [i for i in rest.items() if _ts(i) >= record.first_ts][len(fresh) - FRESH_MESSAGES :]
        return Newest(record, [*older, *fresh], since, changes.result(), indexed)

    def _changed(self, newest: Newest) -> list[int]:
        """The messages changed in the last CHANGE_HORIZON that were read eventually consistently."""
        return newest.changed(self._table.clock() - CHANGE_HORIZON_MICROS)

    def _reread(
        self, tenant: str, session_id: str, items: Sequence[Mapping[str, Any]], changed: Sequence[int]
    ) -> list[Mapping[str, Any]]:
        """`items` with the `changed` messages read again (strongly consistent)."""
        return _with(items, reread(self._table, tenant, session_id, changed) if changed else [])

    def _unindexed(
        self,
        tenant: str,
        session_id: str,
        newest: Newest,
        pages: OlderPages | None = None,
        span: Span = (None, None),
        again: Sequence[Mapping[str, Any]] | None = None,
    ) -> SearchView:
        """The whole session (its newest MAX_OLDER_PAGES pages of older messages), continuing `pages` if given;
        of the older messages only those in `span` (inclusive, None: unbounded) when given. The changed messages
        are read again at the same time (unless read `again` already)."""
        older = pages if pages is not None else OlderPages(self._table, tenant, session_id, *newest.older_range(span))
        changed = self._changed(newest) if again is None else []
        with AtOnce() as calls:
            older_read = calls.start(partial(older.read, MAX_OLDER_PAGES))
            reread_now = calls.start(partial(reread, self._table, tenant, session_id, changed)) if changed else None
        older_read.result()
        if reread_now is not None:
            again = reread_now.result()
        return SearchView(_searchable(_with([*older.items(), *newest.messages], again or [])))

    def _indexed(self, tenant: str, session_id: str, newest: Newest, head: IndexHead) -> SearchView:
        """The view over the index; as without one when it is too far behind (more than MAX_TAIL_PAGES to read).
        The messages it has not covered yet and the changed ones are read at the same time."""
        record, fresh = newest.record, newest.messages
        now = self._table.clock()
        head = head.trusted(now - TRUST_INDEX_AFTER_MICROS)
        oldest_fresh = newest.oldest_ts
        unread = record.message_count - head.docs - sum(1 for i in fresh if _ts(i) > head.through_ts)
        pages = OlderPages(self._table, tenant, session_id, record.first_ts, oldest_fresh, first_limit=unread + 1)
        # What changed since the index last synced may be missing from it, or stale in it.
        changed = newest.changed(min(now, head.synced_at) - CHANGE_HORIZON_MICROS)
        with AtOnce() as calls:
            tail_read = None
            if head.through_ts + 1 < oldest_fresh:
                tail_read = calls.start(partial(pages.read, MAX_TAIL_PAGES, stop_at=head.through_ts))
            reread_now = calls.start(partial(reread, self._table, tenant, session_id, changed)) if changed else None
        again = reread_now.result() if reread_now is not None else []
        if tail_read is not None and not tail_read.result():  # too far behind: its re-read covers the horizon's
            return self._unindexed(tenant, session_id, newest, pages, again=again)
        tail = [i for i in pages.items() if _ts(i) > head.through_ts]
        run = {sort_key(i): i for i in [*tail, *fresh]}
        before: list[Mapping[str, Any]] = []
        for item in again:
            if sort_key(item) in run:
                run[sort_key(item)] = item
            else:
                before.append(item)
        return SearchView(_searchable(run[sk] for sk in sorted(run)), head, _searchable(before), _mean_size(fresh))

    def indexed_before(
        self, tenant: str, session_id: str, view: SearchView, instead_of: int
    ) -> list[SearchableMessage] | None:
        """Every indexed message before the view's run, oldest first, when reading them all costs fewer read units
        than `instead_of` of them by key and fits the call budget (indexed_range.py); None: nothing read."""
        head, run = view.head, view.messages
        if head is None or not run:
            return None
        count = head.docs - sum(1 for m in run if m.message.ts <= head.through_ts)
        if not cheaper_whole(count, instead_of, view.message_bytes):
            return None
        spans = ranges(head, run[0].message.ts, view.message_bytes)
        if not within_call_budget(len(spans)):
            return None
        pages = [OlderPages(self._table, tenant, session_id, lo, end) for lo, end in spans]
        with AtOnce() as calls:
            read = [calls.start(partial(range_.read, 1)) for range_ in pages]
        if not all(done.result() for done in read):  # messages larger than estimated: a page did not hold a range
            return None
        return _searchable(chain.from_iterable(range_.items() for range_ in pages))

    def _older_than(self, tenant: str, session_id: str, first_ts: int, before_ts: int) -> list[Mapping[str, Any]]:
        """The newest MAX_OLDER_PAGES pages of the message items in [first_ts, before_ts), oldest first."""
        pages = OlderPages(self._table, tenant, session_id, first_ts, before_ts)
        pages.read(MAX_OLDER_PAGES)
        return pages.items()

    def summary_history(self, tenant: str, session_id: str) -> list[Summary] | None:
        """The live session's summaries: the session and every summary at once (those of a deleted incarnation,
        until purged, are read and left out)."""
        pk = keys.session_pk(tenant, session_id)
        lo, hi = keys.summary_history_sk(0), keys.summary_history_sk(keys.LAST_TS)
        with AtOnce() as calls:
            record = calls.start(partial(live_session, self._table, tenant, session_id))
            items = calls.start(partial(self._table.range, pk, lo, hi))
        live = record.result()
        if live is None:
            return None
        summaries = (summary_from_item(i) for i in items.result())
        return [summary for summary in summaries if summary.recent_message_ts >= live.first_ts]
