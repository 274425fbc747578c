"""What a text search ranks: the whole session when it has no usable term index; with one, the newest run of
messages, the messages changed lately, and the candidates the index finds (the best by their postings, with their
neighbours), ranked with the whole conversation's statistics (corpus size, mean length, document frequencies
from the index plus the messages it has not covered yet). With a filter, further candidates are read in score
order until enough of them pass it (the filter picks among the whole conversation's ranking)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from chat_memory.domain.models import SearchableMessage, Span
from chat_memory.domain.ports import SearchIndexStore
from chat_memory.domain.search_index import IndexHead, IndexHits, SearchView
from chat_memory.service.candidates import (
    READ_AT_ONCE,
    best,
    candidate_scores,
    locate,
    next_batch,
    to_read,
    with_neighbours,
)
from chat_memory.service.ranking import CorpusStats, Doc, idf, query_terms, terms_of

# Turns read from the index's best: twice the results asked for (or the pool MMR or fusion chooses from), at least
# CANDIDATES, at most MAX_CANDIDATES; the first twice the results asked for with their neighbours that hold a term
# (with the rest, at most 100 read).
CANDIDATES: Final = 20
MAX_CANDIDATES: Final = 60
MAX_TERMS: Final = 8  # query terms looked up, the rarest first (as the newest messages estimate it)
# A search with a filter reads further candidates, in score order, until twice the results asked for (or the pool)
# pass it: at most this many reads of them in all (and never past the search's call budget).
MAX_FILTER_ROUNDS: Final = 6

Timestamps = Mapping[int, Sequence[int]] | None  # the blocks' message timestamps, when read along with the postings


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


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a search asks for: `results` answered out of the best `pool` (MMR and fusion choose among more than
    they answer); `keep`: the filter a result must pass (None: any), `span` its dates (the reads' bounds)."""

    results: int = 10
    pool: int = 10
    keep: Callable[[SearchableMessage], bool] | None = None
    span: Span = (None, None)


def gather(index: SearchIndexStore, tenant: str, session_id: str, text: str, wanted: Wanted) -> Corpus | None:
    """The corpus for a text search of the session; None: no such session."""
    view = index.search_view(tenant, session_id, wanted.span)
    if view is None:
        return None
    if view.head is None or not view.head.blocks:  # no index, or none of it trusted yet: the run is the session
        return plain([*view.messages, *view.changed])
    return _over_index(_Reads(index, tenant, session_id, view.head), text, view, wanted)


@dataclass(frozen=True, slots=True)
class _Reads:
    """The index reads of one search of one session."""

    index: SearchIndexStore
    tenant: str
    session_id: str
    head: IndexHead

    def postings(self, terms: Sequence[str]) -> IndexHits:
        return self.index.postings(self.tenant, self.session_id, self.head, terms)

    def messages(self, seqs: Sequence[int], timestamps: Timestamps) -> dict[int, SearchableMessage]:
        """The indexed messages at these positions in the conversation (those found)."""
        places = dict(zip(locate(self.head, seqs), seqs, strict=True))
        read = self.index.indexed_messages(self.tenant, self.session_id, self.head, places, timestamps)
        return {places[p]: m for p, m in read.items()}

    def all_before(self, view: SearchView, start: int, instead_of: int) -> dict[int, SearchableMessage] | None:
        """Every indexed message before the run (positions 0 to `start`), if the store finds that cheaper than
        `instead_of` by position; None: not read, or not all of them (then the candidates are read by position)."""
        older = self.index.indexed_before(self.tenant, self.session_id, view, instead_of)
        return dict(enumerate(older)) if older is not None and len(older) == start else None


def _over_index(reads: _Reads, text: str, view: SearchView, wanted: Wanted) -> Corpus:
    head = reads.head
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
    hits = reads.postings(sorted(terms, key=lambda t: local[t])[:MAX_TERMS])
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
    candidates = min(max(CANDIDATES, 2 * wanted.results, wanted.pool), MAX_CANDIDATES)
    readable = {s: v for s, v in scores.items() if 0 <= s < indexed and s not in known}
    order = best(readable, candidates if wanted.keep is None else None)  # a filter may read past the first
    if wanted.keep is not None and hits.timestamps is not None:  # dates known: only candidates in the span
        order = _in_span(head, order, hits.timestamps, wanted.span)
    picked, scored = order[:candidates], 2 * wanted.results  # the best, with the neighbours their score needs
    first = to_read(picked[:scored], raw, known, indexed)
    first += [s for s in picked[scored:] if s not in first]  # the next (MMR's pool, fusion's), without
    fetched = reads.messages(first, hits.timestamps)
    if wanted.keep is not None:
        enough = min(max(scored, wanted.pool), MAX_CANDIDATES)
        more = _Rounds(reads, hits.timestamps, raw, known, indexed, view, start)
        fetched = more.until_enough(order, len(picked), fetched, (wanted.keep, enough))
    return _merged(run, start, fetched, view.changed, CorpusStats(total, avgdl, df))


def _in_span(head: IndexHead, order: list[int], timestamps: Mapping[int, Sequence[int]], span: Span) -> list[int]:
    """The positions of `order` whose messages were created within `span` (inclusive; None: unbounded)."""
    low, high = span[0] if span[0] is not None else 0, span[1] if span[1] is not None else math.inf
    out = []
    for seq, (block, ordinal) in zip(order, locate(head, order), strict=True):
        stamps = timestamps.get(block, ())
        if ordinal < len(stamps) and low <= stamps[ordinal] <= high:
            out.append(seq)
    return out


@dataclass(frozen=True, slots=True)
class _Rounds:
    """A filtered search's further reads: the next candidates in score order (with the neighbours that hold a
    term), until enough of those read pass the filter, the candidates run out, or the call budget would; or every
    message before the `view`'s run (positions 0 to `start`), when the store finds that cheaper."""

    reads: _Reads
    timestamps: Timestamps
    raw: Mapping[int, float]
    known: set[int]
    indexed: int
    view: SearchView
    start: int

    def until_enough(
        self,
        order: Sequence[int],
        taken: int,
        fetched: dict[int, SearchableMessage],
        wants: tuple[Callable[[SearchableMessage], bool], int],
    ) -> dict[int, SearchableMessage]:
        """`fetched` (the first `taken` of `order` read) with the further reads' messages, until `enough` of those
        of `order` read pass `keep` (then the ranking is that of the whole session if it read every message)."""
        keep, enough = wants
        passed = sum(1 for s in order[:taken] if s in fetched and keep(fetched[s]))
        for round_ in range(MAX_FILTER_ROUNDS - 1):
            if passed >= enough or taken >= len(order):
                break
            share = max(passed, 1) / taken  # of the candidates read, those that pass
            want = math.ceil((enough - passed) / share * 1.5)
            if round_ == 0:
                rounds = min(want, len(order) - taken, (MAX_FILTER_ROUNDS - 1) * READ_AT_ONCE)
                whole = self.reads.all_before(self.view, self.start, rounds)
                if whole is not None:
                    return whole
            if not self.reads.index.room_for_more(timestamps=self.timestamps is not None):
                break
            batch, took = next_batch(order[taken:], want, self.raw, self.known | fetched.keys(), self.indexed)
            fetched = fetched | self.reads.messages(batch, self.timestamps)
            passed += sum(1 for s in order[taken : taken + took] if s in fetched and keep(fetched[s]))
            taken += took
        return fetched


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
