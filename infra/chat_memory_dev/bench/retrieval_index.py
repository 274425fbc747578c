"""The retrieval benchmark's conversations searched as search does over a term index (service/indexed_search.py):
the newest messages read in full, the rest through sealed blocks (the indexer's build_block, stored with the
adapter's codec, looked up within its bucket budget), candidates chosen from their postings and ranked with the
whole conversation's statistics. In memory: no DynamoDB, the same code paths above the table."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final

from chat_memory.adapters.dynamodb.index_codec import decode_columns, split_block
from chat_memory.adapters.dynamodb.index_reads import plan_buckets
from chat_memory.domain.models import RoleType, SearchableMessage, Span, StoredMessage
from chat_memory.domain.search_index import IndexBlock, IndexHead, IndexHits, Posting, SearchView
from chat_memory.service.indexed_search import Wanted, gather
from chat_memory.service.indexer import BLOCK_SIZE, build_block
from chat_memory.service.ranking import Doc, rank

WINDOW: Final = 100  # search's strongly consistent window (adapters/dynamodb/search.py)


class MemoryIndex:
    """SearchIndexStore over one conversation held in memory, indexed as the indexer would have indexed it."""

    def __init__(self, docs: Sequence[Doc], *, window: int = WINDOW, block_size: int = BLOCK_SIZE) -> None:
        self._messages = [
            StoredMessage(d.key, d.ts * 1_000_000 + i, d.speaker, RoleType.USER, d.text, 1) for i, d in enumerate(docs)
        ]
        self._window = window
        self._buckets: dict[tuple[int, int], bytes] = {}
        self._ts: dict[int, list[int]] = {}
        blocks = []
        for start in range(0, len(docs) - len(docs) % block_size, block_size):
            block = build_block(self._messages[start : start + block_size])
            self._buckets |= {(b, block.first_ts): data for b, data in split_block(block).items()}
            self._ts[block.first_ts] = [ts for ts, _ in block.docs]
            blocks.append(IndexBlock(block.first_ts, len(block.docs), block.length, 0))
        indexed = sum(b.docs for b in blocks)
        through = self._messages[indexed - 1].ts if indexed else -1
        self._head = IndexHead(incarnation=0, through_ts=through, blocks=tuple(blocks)) if blocks else None
        self._by_ts = {m.ts: m for m in self._messages}

    def search_view(self, tenant: str, session_id: str, span: Span = (None, None)) -> SearchView | None:
        if self._head is None:
            return SearchView([SearchableMessage(m) for m in self._messages])
        unindexed = sum(1 for m in self._messages if m.ts > self._head.through_ts)
        run = self._messages[-max(self._window, unindexed) :]
        return SearchView([SearchableMessage(m) for m in run], self._head)

    def postings(self, tenant: str, session_id: str, head: IndexHead, terms: Sequence[str]) -> IndexHits:
        found: dict[str, list[Posting]] = {}
        for bucket, wanted in plan_buckets(terms).items():
            found |= {t: [] for t in wanted}
            for block in head.blocks:
                data = self._buckets.get((bucket, block.first_ts), b"")
                for term, entries in decode_columns(data, wanted, block.first_ts).items():
                    found[term] += entries
        return IndexHits(found)

    def indexed_messages(
        self,
        tenant: str,
        session_id: str,
        head: IndexHead,
        wanted: Iterable[tuple[int, int]],
        timestamps: Mapping[int, Sequence[int]] | None = None,
    ) -> dict[tuple[int, int], SearchableMessage]:
        return {(b, o): SearchableMessage(self._by_ts[self._ts[b][o]]) for b, o in list(wanted)[:100]}

    def room_for_more(self, *, timestamps: bool) -> bool:
        return True

    def indexed_before(
        self, tenant: str, session_id: str, view: SearchView, instead_of: int
    ) -> list[SearchableMessage] | None:
        return None  # the retrieval benchmark has no filter


def indexed_ranker(
    *, window: int = WINDOW, block_size: int = BLOCK_SIZE
) -> Callable[[str, Sequence[Doc], int], list[str]]:
    """A retrieval.py ranker: the conversation searched over its index."""

    def ranker(query: str, docs: Sequence[Doc], limit: int) -> list[str]:
        corpus = gather(MemoryIndex(docs, window=window, block_size=block_size), "t", "s", query, Wanted())
        if corpus is None:
            return []
        return [doc.key for doc, _ in rank(query, corpus.docs, limit, stats=corpus.stats)]

    return ranker
