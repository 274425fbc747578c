"""Retrieval benchmark: evidence recall@5/10/20 of the search ranker next to a plain BM25 over the same turns.

The baseline is SQLite FTS5's ``bm25()`` (default unicode61 tokeniser: no stemming, no stop words) queried with
the question's words OR'ed; where FTS5 is missing, a textbook BM25 (k1 1.2, b 0.75, the same tokens) stands in and
the output says so. Recall@k of a question: the share of its evidence turns in the top k; averaged over questions.
Conversations 0, 2, 4, ... are the ones the ranker was tuned on; 1, 3, 5, ... are held out. "ours, index" is the
same ranker as search runs it over the session's term index (retrieval_index.py): candidates from the postings,
the whole conversation's statistics; also with small blocks and window, so that most turns come from the index.
Run: ``python -m chat_memory_dev.bench.retrieval``.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chat_memory.service.ranking import Doc, rank
from chat_memory_dev.bench.retrieval_corpus import Conversation, conversations
from chat_memory_dev.bench.retrieval_index import indexed_ranker

KS = (5, 10, 20)
_WORD = re.compile(r"\w+")
Ranker = Callable[[str, Sequence[Doc], int], list[str]]


@dataclass(frozen=True, slots=True)
class Figures:
    """Recall@k per ranker and half ("tune", "held-out"), and how many questions each half has."""

    recall: dict[tuple[str, str], dict[int, float]]
    questions: dict[str, int]
    baseline: str


def fts5_available() -> bool:
    try:
        with sqlite3.connect(":memory:") as db:
            db.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    return True


def fts5_bm25(query: str, docs: Sequence[Doc], limit: int) -> list[str]:
    words = sorted({w.lower() for w in _WORD.findall(query)})
    if not words or not docs:
        return []
    with sqlite3.connect(":memory:") as db:
        db.execute("CREATE VIRTUAL TABLE turns USING fts5(body, key UNINDEXED)")
        db.executemany("INSERT INTO turns (body, key) VALUES (?, ?)", [(d.text, d.key) for d in docs])
        match = " OR ".join(f'"{w}"' for w in words)
        rows = db.execute(
            "SELECT key FROM turns WHERE turns MATCH ? ORDER BY bm25(turns), key LIMIT ?", (match, limit)
        ).fetchall()
    return [str(key) for (key,) in rows]


def textbook_bm25(query: str, docs: Sequence[Doc], limit: int) -> list[str]:
    toks = [[w.lower() for w in _WORD.findall(d.text)] for d in docs]
    terms = {w.lower() for w in _WORD.findall(query)}
    avgdl = sum(map(len, toks)) / max(len(toks), 1) or 1.0
    df = Counter(t for ts in toks for t in set(ts))
    scored = []
    for doc, ts in zip(docs, toks, strict=True):
        tf, norm = Counter(ts), 1.2 * (0.25 + 0.75 * len(ts) / avgdl)
        s = sum(math.log(1 + (len(docs) - df[t] + 0.5) / (df[t] + 0.5)) * tf[t] * 2.2 / (tf[t] + norm) for t in terms)
        scored += [(-s, doc.key)] if s > 0 else []
    return [key for _, key in sorted(scored)[:limit]]


def ours(query: str, docs: Sequence[Doc], limit: int) -> list[str]:
    return [doc.key for doc, _ in rank(query, docs, limit)]


def _recalls(ranker: Ranker, convs: Sequence[Conversation]) -> dict[int, float]:
    hits = {k: 0.0 for k in KS}
    count = 0
    for conv in convs:
        docs = [Doc(t.key, t.text, t.speaker, t.ts) for t in conv.turns]
        for q in conv.questions:
            found = ranker(q.text, docs, max(KS))
            for k in KS:
                hits[k] += len(set(found[:k]) & set(q.evidence)) / len(q.evidence)
            count += 1
    return {k: hits[k] / max(count, 1) for k in KS}


def evaluate(convs: Sequence[Conversation] | None = None) -> Figures:
    """The figures over the given conversations (default: the shipped corpus), split by their index's parity."""
    convs = conversations() if convs is None else convs
    halves = {"tune": [c for c in convs if c.index % 2 == 0], "held-out": [c for c in convs if c.index % 2 == 1]}
    baseline, name = (fts5_bm25, "SQLite FTS5 bm25()") if fts5_available() else (textbook_bm25, "textbook BM25")
    rankers: dict[str, Ranker] = {
        "ours": ours,
        "ours, index": indexed_ranker(),
        "ours, index of 50-turn blocks, window 20": indexed_ranker(window=20, block_size=50),
        "bm25": baseline,
    }
    recall = {(r, h): _recalls(fn, cs) for r, fn in rankers.items() for h, cs in halves.items() if cs}
    return Figures(recall, {h: sum(len(c.questions) for c in cs) for h, cs in halves.items()}, name)


def main() -> None:
    figures = evaluate()
    print(f"evidence recall (baseline: {figures.baseline}; FTS5 available: {fts5_available()})")
    width = max(len(ranker) for ranker, _ in figures.recall)
    print(f"{'ranker':<{width}} {'half':<9} {'questions':>9} " + " ".join(f"{'R@' + str(k):>6}" for k in KS))
    for (ranker, half), r in figures.recall.items():
        print(f"{ranker:<{width}} {half:<9} {figures.questions[half]:>9} " + " ".join(f"{r[k]:>6.1%}" for k in KS))


if __name__ == "__main__":
    main()
