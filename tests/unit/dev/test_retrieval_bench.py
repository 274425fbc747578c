"""The retrieval benchmark: the corpus is deterministic and the ranker's recall beats plain BM25, computed."""

from chat_memory.service.ranking import Doc
from chat_memory_dev.bench.retrieval import KS, evaluate, fts5_available, fts5_bm25, textbook_bm25
from chat_memory_dev.bench.retrieval_corpus import conversation, conversations


def test_corpus_is_deterministic_long_and_its_evidence_exists() -> None:
    first, again = conversation(3), conversation(3)
    assert first == again
    assert len(first.turns) >= 300
    assert len({t.session for t in first.turns}) >= 5
    keys = {t.key for t in first.turns}
    assert len(keys) == len(first.turns)
    assert all(set(q.evidence) <= keys for q in first.questions)
    assert {q.kind for q in first.questions} >= {"single-hop", "multi-hop", "temporal", "paraphrase"}


def test_benchmark_runs_on_a_slice() -> None:
    figures = evaluate(conversations(2))
    rankers = ("ours", "ours, index", "ours, index of 50-turn blocks, window 20", "bm25")
    assert set(figures.recall) == {(r, h) for r in rankers for h in ("tune", "held-out")}
    for recall in figures.recall.values():
        assert set(recall) == set(KS)
        assert 0.0 <= recall[5] <= recall[10] <= recall[20] <= 1.0
    assert figures.baseline == ("SQLite FTS5 bm25()" if fts5_available() else "textbook BM25")


def test_baselines_rank_an_exact_match_first() -> None:
    docs = [Doc("a", "the weather is nice", "A", 1), Doc("b", "I adopted a puppy", "B", 2)]
    assert textbook_bm25("puppy adopted", docs, 5) == ["b"]
    if fts5_available():
        assert fts5_bm25("puppy adopted", docs, 5) == ["b"]


def test_ranker_beats_plain_bm25_on_the_shipped_corpus() -> None:
    figures = evaluate()
    for half in ("tune", "held-out"):
        assert figures.recall[("ours", half)][10] >= figures.recall[("bm25", half)][10], figures.recall
    # Search over the term index keeps the ranker's quality (the goal: 80% held-out).
    for ranker in ("ours, index", "ours, index of 50-turn blocks, window 20"):
        assert figures.recall[(ranker, "held-out")][10] >= 0.80, figures.recall
        assert figures.recall[(ranker, "held-out")][10] >= figures.recall[("ours", "held-out")][10] - 0.01
