"""What a text search ranks: the whole session when it has no usable term index; with one, the newest run of
messages, the messages changed lately, and the candidates the index finds (the best by their postings, with their
neighbours), ranked with the whole conversation's statistics (corpus size, mean length, document frequencies
from the index plus the messages it has not covered yet)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from chat_memory.domain.models import SearchableMessage
from chat_memory.domain.ports import SearchIndexStore
from chat_memory.domain.search_index import IndexHead, SearchView
from chat_memory.service.candidates import best, candidate_scores, locate, to_read, with_neighbours
from chat_memory.service.ranking import CorpusStats, Doc, idf, query_terms, terms_of

# Turns read from the index's best: twice the results asked for (or the pool MMR or fusion chooses from), at least
# CANDIDATES, at most MAX_CANDIDATES; the first twice the results asked for with their neighbours that hold a term
# (with the rest, at most 100 read).
CANDIDATES: Final = 20
MAX_CANDIDATES: Final = 60
MAX_TERMS: Final = 8  # query terms looked up, the rarest first (as the newest messages estimate it)


@dataclass(frozen=True, slots=True)
class Corpus:
    """The messages read for a search, as the ranker's docs, and the whole conversation's statistics when the docs
    are only part of it."""

    messages: list[SearchableMessage]
    docs: list[Doc]
    stats: CorpusStats | None = None


def _doc(m: SearchableMessage, seq: int | None = None) -> Doc:
    return Doc(m.message.uuid, m.message.content, m.message.role, m.message.ts // 1_000_000, seq)


def plain(messages: list[SearchableMessage]) -> Corpus:
    return Corpus(messages, [_doc(m) for m in messages])


def gather(
    index: SearchIndexStore, tenant: str, session_id: str, text: str, results: int = 10, pool: int = 10
) -> Corpus | None:
    """The corpus for a text search of the session that answers `results` out of the best `pool` (MMR and fusion
    choose among more than they answer); None: no such session."""
    view = index.search_view(tenant, session_id)
    if view is None:
        return None
    if view.head is None or not view.head.blocks:  # no index, or none of it trusted yet: the run is the session
        return plain([*view.messages, *view.changed])
    candidates = min(max(CANDIDATES, 2 * results, pool), MAX_CANDIDATES)
    return _over_index(index, tenant, session_id, text, view, view.head, (results, candidates))


def _over_index(
    index: SearchIndexStore,
    tenant: str,
    session_id: str,
    text: str,
    view: SearchView,
    head: IndexHead,
    sizes: tuple[int, int],
) -> Corpus:
    run = view.messages
    run_terms = [terms_of(m.message.content) for m in run]
    unindexed = [t for m, t in zip(run, run_terms, strict=True) if m.message.ts > head.through_ts]
    indexed = head.docs  # a sum over the blocks: once
    total = indexed + len(unindexed)
    start = total - len(run)
    terms = list(dict.fromkeys(query_terms(text, sorted({m.message.role for m in run}))))
    if not terms:
        return Corpus(
            [*run, *view.changed], [*(_doc(m, start + i) for i, m in enumerate(run)), *map(_doc, view.changed)]
        )
    local = Counter(t for toks in run_terms for t in set(toks) if t in terms)
    lookup = sorted(terms, key=lambda t: local[t])[:MAX_TERMS]
    hits = index.postings(tenant, session_id, head, lookup)
    postings = hits.postings
    df = {
        t: len(postings[t]) + sum(t in toks for toks in unindexed)
        if t in postings
        else min(total, round(local[t] * total / max(len(run), 1)))
        for t in terms
    }
    avgdl = (head.length + sum(map(len, unindexed))) / max(total, 1)
    weights = {t: idf(max(total, df[t]), df[t]) for t in terms}
    known = set(range(start, start + len(run)))
    raw = candidate_scores(postings, weights, avgdl, head.bases())
    scores = with_neighbours(raw)
    results, candidates = sizes
    picked = best({s: v for s, v in scores.items() if s not in known and s < indexed}, candidates)
    scored = 2 * results  # the best, with the neighbours their score needs
    wanted = to_read(picked[:scored], raw, known, indexed)
    wanted += [s for s in picked[scored:] if s not in wanted]  # the next (MMR's pool, fusion's), without
    places = dict(zip(locate(head, wanted), wanted, strict=True))
    read = index.indexed_messages(tenant, session_id, head, places, hits.timestamps)
    fetched = {places[p]: m for p, m in read.items()}
    return _merged(run, start, fetched, view.changed, CorpusStats(total, avgdl, df))


def _merged(
    run: Sequence[SearchableMessage],
    start: int,
    fetched: dict[int, SearchableMessage],
    changed: Sequence[SearchableMessage],
    stats: CorpusStats,
) -> Corpus:
    """Run, candidates and changed messages as docs (a changed message read again replaces its candidate)."""
    at = {m.message.ts: seq for seq, m in fetched.items()}
    for m in changed:
        if m.message.ts in at:
            fetched[at[m.message.ts]] = m
    loose = [m for m in changed if m.message.ts not in at]
    placed = [*((start + i, m) for i, m in enumerate(run)), *sorted(fetched.items(), key=lambda p: p[0])]
    messages = [m for _, m in placed] + loose
    docs = [*(_doc(m, seq) for seq, m in placed), *map(_doc, loose)]
    return Corpus(messages, docs, stats)
