"""Candidate selection over the search index: the turns worth reading, scored from their postings alone with the
whole conversation's statistics (BM25 with coverage as the ranker computes it, plus the neighbour's share), so
that the ranker, run on the few turns read, gives them the scores a ranking of the whole conversation would."""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Mapping, Sequence

from chat_memory.domain.search_index import IndexHead, Posting
from chat_memory.service.ranking import K1, NEIGHBOUR_WEIGHT, B

READ_AT_ONCE = 100  # messages in one read of them (indexed_messages, a BatchGetItem)


def candidate_scores(
    postings: Mapping[str, Sequence[Posting]], weights: Mapping[str, float], avgdl: float, bases: Mapping[int, int]
) -> dict[int, float]:
    """Each indexed turn holding a looked-up term (by its position in the conversation): its BM25 with coverage
    over all the query's `weights` (idf), before bigrams and boosts: ranking.bm25's terms, summed term by term
    (a search scores about 10,000 postings of a 10,000-turn session: no per-turn dict, no call per turn)."""
    flat, slope = K1 * (1 - B), K1 * B / avgdl  # BM25's length norm: flat + slope * length
    partial: dict[int, float] = {}
    held: dict[int, float] = {}
    for term, entries in postings.items():
        weight = weights[term]
        boosted = weight * (K1 + 1)
        for block, ordinal, tf, length in entries:
            seq = bases[block] + ordinal
            partial[seq] = partial.get(seq, 0.0) + boosted * tf / (tf + flat + slope * length)
            held[seq] = held.get(seq, 0.0) + weight
    total = sum(weights.values()) or 1.0
    return {seq: score * (0.5 + 0.5 * held[seq] / total) for seq, score in partial.items()}


def with_neighbours(scores: Mapping[int, float]) -> dict[int, float]:
    """The scores with the share of the better neighbour's (the turn before or after), as the ranker adds it; turns
    without a term of their own but next to one are included."""
    get = scores.get
    out: dict[int, float] = {}
    for seq in {s + d for s in scores for d in (-1, 0, 1)}:
        before, after = get(seq - 1, 0.0), get(seq + 1, 0.0)
        out[seq] = get(seq, 0.0) + NEIGHBOUR_WEIGHT * (before if before > after else after)
    return out


def best(scores: Mapping[int, float], limit: int | None = None) -> list[int]:
    """The `limit` best positions (None: all), best first (ties: the newer first). (score, position) pairs compare
    in C: no key function called per position."""
    pairs = zip(scores.values(), scores.keys(), strict=True)
    ranked = sorted(pairs, reverse=True) if limit is None else heapq.nlargest(limit, pairs)
    return [seq for _, seq in ranked]


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
