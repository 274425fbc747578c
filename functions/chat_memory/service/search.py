"""Search a session's memory: its messages (or its summaries) ranked for the words of a query by the offline
lexical ranker, fused with a semantic ranking when an embedding model is configured and the messages have their
embeddings; filtered on metadata and time; by maximal marginal relevance when asked."""

from __future__ import annotations

from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass

from chat_memory.domain.errors import InvalidInputError, ModelUnavailableError, found
from chat_memory.domain.models import SearchableMessage, SearchHit, SearchQuery, SearchScope, Summary
from chat_memory.domain.ports import MemoryStore, SearchIndexStore, TextEmbedder
from chat_memory.observability import logger
from chat_memory.service.indexed_search import Corpus, Wanted, gather, plain
from chat_memory.service.metadata_filter import metadata_filter
from chat_memory.service.ranking import CorpusStats, Doc, rank, tokens
from chat_memory.service.semantic import cosines, fuse, quantize

_MMR_POOL = 4  # MMR picks among this many times `limit` of the most relevant
_FUSION_DEPTH = 50  # each ranking's best that reciprocal rank fusion combines (at least the results asked for)
# Below this cosine a message is not semantically related (unrelated texts score about 0 to 0.2 with Titan v2's
# normalised embeddings): the semantic ranking leaves it out rather than rank every message of a small session.
_MIN_COSINE = 0.3


@dataclass(frozen=True, slots=True)
class SearchMemory:
    store: MemoryStore
    embedder: TextEmbedder | None = None  # None: lexical ranking only
    index: SearchIndexStore | None = None  # the session's term index (None: every search reads the whole session)

    def __call__(self, tenant: str, session_id: str, query: SearchQuery) -> list[SearchHit]:
        if not query.text.strip() and query.where is None and query.start_ts is None and query.end_ts is None:
            raise InvalidInputError("search needs `text`, or `metadata` to filter on (a where clause or dates)")
        if query.scope is SearchScope.SUMMARY:
            summaries = found(self.store.summary_history(tenant, session_id), f"session {session_id!r}")
            return self._summaries(summaries, query)
        if not query.text.strip():  # a filter alone: what matches, newest first
            span = (query.start_ts, query.end_ts)
            matching = self.store.newest_matching(tenant, session_id, _filter(query), query.limit, span)
            return [SearchHit(score=1.0, message=m.message) for m in found(matching, f"session {session_id!r}")]
        keep = None if query.where is None and query.start_ts is None and query.end_ts is None else _filter(query)
        span = (query.start_ts, query.end_ts)
        if self.index is not None:
            pool = max(_FUSION_DEPTH if self.embedder else 0, query.limit * (_MMR_POOL if query.mmr_lambda else 1))
            corpus = gather(self.index, tenant, session_id, query.text, Wanted(query.limit, pool, keep, span))
            corpus = found(corpus, f"session {session_id!r}")
        else:
            corpus = plain(found(self.store.searchable_messages(tenant, session_id, span), f"session {session_id!r}"))
        return self._messages(corpus, query, keep)

    def _messages(
        self, corpus: Corpus, query: SearchQuery, keep: Callable[[SearchableMessage], bool] | None
    ) -> list[SearchHit]:
        """The corpus ranked; with a filter, the messages it rejects are context (statistics, neighbours) only."""
        messages = corpus.messages
        eligible = None if keep is None else {m.message.uuid for m in messages if keep(m)}
        by_key = {m.message.uuid: m.message for m in messages}
        docs = list({d.key: d for d in corpus.docs}.values())
        answerable = messages if eligible is None else [m for m in messages if m.message.uuid in eligible]
        semantic = self._semantic_ranking(query, answerable)
        ranked = _ranked(query, docs, semantic=semantic, stats=corpus.stats, eligible=eligible)
        return [SearchHit(score=score, message=by_key[doc.key]) for doc, score in ranked]

    def _semantic_ranking(self, query: SearchQuery, messages: list[SearchableMessage]) -> list[str] | None:
        """The uuids of the messages closest to the query's embedding, best first; None without embeddings (no
        model, none of the messages embedded by it yet, or the model failing: then lexical ranking alone)."""
        if self.embedder is None:
            return None
        model = self.embedder.model
        embedded = [m for m in messages if m.embedding is not None and m.embedding.model == model]
        if not embedded:
            return None
        try:
            wanted = quantize(self.embedder.embed(query.text, query=True))
        except (ModelUnavailableError, ValueError) as exc:
            logger.warning("semantic ranking skipped: the embedding model failed", extra={"error": str(exc)})
            return None
        scores = cosines(wanted, [m.embedding.vector for m in embedded if m.embedding is not None])
        related = sorted((i for i in range(len(embedded)) if scores[i] >= _MIN_COSINE), key=lambda i: -scores[i])
        return [embedded[i].message.uuid for i in related[: max(_FUSION_DEPTH, query.limit)]]

    def _summaries(self, summaries: list[Summary], query: SearchQuery) -> list[SearchHit]:
        if not query.text.strip():
            return [SearchHit(score=1.0, summary=s) for s in reversed(summaries[-query.limit :])]
        by_key = {s.uuid: s for s in summaries}
        docs = [Doc(s.uuid, s.content, "", s.ts // 1_000_000) for s in summaries]
        ranked = _ranked(query, docs, turns=False)
        return [SearchHit(score=score, summary=by_key[doc.key]) for doc, score in ranked]


def _filter(query: SearchQuery) -> Callable[[SearchableMessage], bool]:
    """Whether a message passes the query's metadata filter and dates."""
    where = metadata_filter(query.where) if query.where is not None else None
    low = query.start_ts if query.start_ts is not None else 0
    high = query.end_ts if query.end_ts is not None else float("inf")
    return lambda m: low <= m.message.ts <= high and (where is None or where(m.message.metadata or {}))


def _ranked(
    query: SearchQuery,
    docs: Sequence[Doc],
    *,
    turns: bool = True,
    semantic: list[str] | None = None,
    stats: CorpusStats | None = None,
    eligible: Container[str] | None = None,
) -> list[tuple[Doc, float]]:
    """The best `eligible` docs (None: any) with scores in (0, 1] (relative to the best), by relevance (lexical,
    or fused with the `semantic` ranking of doc keys) or by MMR."""
    pool = query.limit * (_MMR_POOL if query.mmr_lambda is not None else 1)
    if semantic is None:
        ranked = rank(query.text, docs, pool, turns=turns, stats=stats, eligible=eligible)
    else:
        lexical = rank(query.text, docs, max(pool, _FUSION_DEPTH), turns=turns, stats=stats, eligible=eligible)
        by_key = {doc.key: doc for doc in docs}
        ranked = [(by_key[key], score) for key, score in fuse([d.key for d, _ in lexical], semantic)[:pool]]
    if not ranked:
        return []
    best = ranked[0][1]
    relative = [(doc, score / best) for doc, score in ranked]
    if query.mmr_lambda is None:
        return relative
    return _mmr(relative, query.mmr_lambda, query.limit)


def _mmr(ranked: list[tuple[Doc, float]], weight: float, limit: int) -> list[tuple[Doc, float]]:
    """Maximal marginal relevance: each next pick maximises weight * relevance - (1 - weight) * its word overlap
    (Jaccard) with what was picked; the score sent is still its relevance. Each candidate's overlap is updated with
    the last pick only: O(candidates x limit)."""
    words = [set(tokens(doc.text)) for doc, _ in ranked]
    overlap = [0.0] * len(ranked)
    left = list(range(len(ranked)))
    picked: list[tuple[Doc, float]] = []
    while left and len(picked) < limit:
        best = max(left, key=lambda i: (weight * ranked[i][1] - (1 - weight) * overlap[i], -i))
        picked.append(ranked[best])
        left.remove(best)
        for i in left:
            overlap[i] = max(overlap[i], _jaccard(words[i], words[best]))
    return picked


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0
