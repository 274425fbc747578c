"""The indexer: keeps a session's search index up to date in the background (fed by the table's stream).

It seals the oldest BLOCK_SIZE messages the index does not cover yet into an immutable block (postings by term
bucket, written before the head that names it), as long as there are that many; and rebuilds the blocks whose
messages changed (a uuid resent with new words). An index of another incarnation of the session (deleted, then
created again) is started over. Every step is idempotent: a retried or replayed record only finishes the job."""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Final

from chat_memory.domain.errors import IndexItemTooLargeError
from chat_memory.domain.models import StoredMessage
from chat_memory.domain.ports import IndexStore
from chat_memory.domain.search_index import BuiltBlock, IndexBlock, IndexHead, empty_head
from chat_memory.service.ranking import terms_of

BLOCK_SIZE: Final = 200  # messages per sealed block
MAX_BLOCKS_PER_RUN: Final = 25  # blocks sealed per invocation (5,000 messages); the next record goes on


def _now_micros() -> int:
    return time.time_ns() // 1_000


@dataclass(frozen=True, slots=True)
class IndexReport:
    sealed: int = 0
    rebuilt: int = 0
    messages: int = 0
    too_large: bool = False  # an item would pass 400 KB: the rest stays unindexed (search reads it as messages)


def build_block(messages: Sequence[StoredMessage]) -> BuiltBlock:
    """A block of consecutive messages: their timestamps and lengths, and each term's postings (position, count)."""
    docs: list[tuple[int, int]] = []
    postings: dict[str, list[tuple[int, int]]] = {}
    for ordinal, message in enumerate(messages):
        terms = terms_of(message.content)
        docs.append((message.ts, len(terms)))
        for term, tf in Counter(terms).items():
            postings.setdefault(term, []).append((ordinal, tf))
    return BuiltBlock(messages[0].ts, tuple(docs), {t: tuple(p) for t, p in postings.items()})


@dataclass(frozen=True, slots=True)
class IndexSession:
    store: IndexStore
    clock: Callable[[], int] = _now_micros  # microseconds: when a block is sealed
    block_size: int = BLOCK_SIZE

    def __call__(self, tenant: str, session_id: str, changed: Collection[int] = (), seen_at: int = 0) -> IndexReport:
        """Bring the session's index up to date. `changed`: timestamps of messages whose words changed; `seen_at`
        (microseconds): when the newest change handed over was written (every change before it is then in)."""
        state = self.store.index_state(tenant, session_id)
        if state is None:
            return IndexReport()
        head = state.head
        if head is None or head.incarnation != state.first_ts:
            head = empty_head(state.first_ts, version=head.version if head is not None else 0)
        head, rebuilt = self._rebuild(tenant, session_id, head, changed)
        if rebuilt or (changed and seen_at > head.synced_at):
            head = replace(head, synced_at=max(head.synced_at, seen_at))
            if not self._save(tenant, session_id, head):
                return IndexReport(rebuilt=rebuilt)
            head = replace(head, version=head.version + 1)
        sealed = messages = 0
        unindexed = state.message_count - head.docs
        while unindexed >= self.block_size and sealed < MAX_BLOCKS_PER_RUN:
            batch = self.store.messages_from(tenant, session_id, head.through_ts + 1, self.block_size)
            if len(batch) < self.block_size:
                break
            block = build_block(batch)
            entry = IndexBlock(block.first_ts, len(block.docs), block.length, self.clock())
            grown = replace(head, blocks=(*head.blocks, entry), through_ts=batch[-1].ts)
            grown = replace(grown, synced_at=max(grown.synced_at, seen_at))
            try:
                self.store.write_block(tenant, session_id, block, replace=False)
                saved = self._save(tenant, session_id, grown)
            except IndexItemTooLargeError:
                return IndexReport(sealed, rebuilt, messages, too_large=True)
            if not saved:
                break
            head = grown
            head = replace(head, version=head.version + 1)
            sealed, messages, unindexed = sealed + 1, messages + len(batch), unindexed - len(batch)
        return IndexReport(sealed, rebuilt, messages)

    def _save(self, tenant: str, session_id: str, head: IndexHead) -> bool:
        return self.store.save_head(tenant, session_id, head)

    def _rebuild(
        self, tenant: str, session_id: str, head: IndexHead, changed: Collection[int]
    ) -> tuple[IndexHead, int]:
        """Rebuild the sealed blocks holding a changed message (same messages, new words)."""
        firsts = [b.first_ts for b in head.blocks]
        touched = sorted({bisect.bisect_right(firsts, ts) - 1 for ts in changed if ts <= head.through_ts} - {-1})
        blocks = list(head.blocks)
        for i in touched:
            old = blocks[i]
            batch = self.store.messages_from(tenant, session_id, old.first_ts, old.docs)
            if len(batch) != old.docs:
                continue  # cannot happen: messages are never deleted one by one
            block = build_block(batch)
            try:
                self.store.write_block(tenant, session_id, block, replace=True)
            except IndexItemTooLargeError:
                continue  # its old words stay indexed; the change markers cover the new ones for their hour
            blocks[i] = replace(old, length=block.length)
        return replace(head, blocks=tuple(blocks)), len(touched)
