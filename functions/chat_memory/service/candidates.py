"""Candidate selection over the search index: the turns worth reading, scored from their postings alone with the
whole conversation's statistics (BM25 with coverage as the ranker computes it, plus the neighbour's share), so
that the ranker, run on the few turns read, gives them the scores a ranking of the whole conversation would."""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Mapping, Sequence

from chat_memory.domain.search_index import IndexHead, Posting
from chat_memory.service.ranking import NEIGHBOUR_WEIGHT, bm25

READ_AT_ONCE = 100  # messages in one read of them (indexed_messages, a BatchGetItem)


def candidate_scores(
    postings: Mapping[str, Sequence[Posting]], weights: Mapping[str, float], avgdl: float, bases: Mapping[int, int]
) -> dict[int, float]:
    """Each indexed turn holding a looked-up term (by its position in the conversation): its BM25 with coverage
    over all the query's `weights` (idf), before bigrams and boosts."""
    tf: dict[int, dict[str, int]] = defaultdict(dict)
    length: dict[int, int] = {}
    for term, entries in postings.items():
        for p in entries:
            seq = bases[p.block] + p.ordinal
            tf[seq][term] = p.tf
            length[seq] = p.length
    return {seq: bm25(weights, terms, length[seq], avgdl) for seq, terms in tf.items()}


def with_neighbours(scores: Mapping[int, float]) -> dict[int, float]:
    """The scores with the share of the better neighbour's (the turn before or after), as the ranker adds it; turns
    without a term of their own but next to one are included."""
    out: dict[int, float] = {}
    for seq in {s + d for s in scores for d in (-1, 0, 1)}:
        share = max(scores.get(seq - 1, 0.0), scores.get(seq + 1, 0.0))
        out[seq] = scores.get(seq, 0.0) + NEIGHBOUR_WEIGHT * share
    return out


def best(scores: Mapping[int, float], limit: int) -> list[int]:
    """The `limit` best positions, best first (ties: the newer first)."""
    return sorted(scores, key=lambda s: (-scores[s], -s))[:limit]


def to_read(picked: Sequence[int], raw: Mapping[int, float], known: set[int], indexed: int) -> list[int]:
    """The positions to read: the picked ones and those of their neighbours that hold a query term (`raw` score
    > 0: the share the ranker gives a turn comes from them; a neighbour without a term adds nothing), less those
    already read and those past the index's `indexed` turns; the picked ones first."""
    near = (s + d for s in picked for d in (-1, 1))
    wanted = [*picked, *(s for s in near if raw.get(s, 0.0) > 0)]
    return [s for s in dict.fromkeys(wanted) if 0 <= s < indexed and s not in known]


def next_batch(
    order: Sequence[int], want: int, raw: Mapping[int, float], known: set[int], indexed: int, room: int = READ_AT_ONCE
) -> tuple[list[int], int]:
    """The next positions to read: the first `want` of `order` (the candidates left, best first), each with the
    neighbours to_read adds, as many as fit in `room` positions; and how many of `order` they cover."""
    batch: list[int] = []
    seen = set(known)
    took = 0
    for seq in order[:want]:
        new = to_read([seq], raw, seen, indexed)
        if len(batch) + len(new) > room:
            break
        batch += new
        seen.update(new)
        took += 1
    return batch, took


def locate(head: IndexHead, seqs: Sequence[int]) -> list[tuple[int, int]]:
    """(block first_ts, position in the block) of positions in the conversation."""
    firsts = [b.first_ts for b in head.blocks]
    starts = list(head.bases().values())
    out = []
    for seq in seqs:
        i = bisect.bisect_right(starts, seq) - 1
        out.append((firsts[i], seq - starts[i]))
    return out
