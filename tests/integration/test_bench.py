"""`chat-memory bench --quick` as a smoke test: it runs, writes its files, and the capacity figures make sense.

The one run of `bench --quick` in CI (`make test`; .ci/run does not run it again).

Assertions are on capacity units only (computed from DynamoDB's sizing rules, deterministic), never on time.
"""

import json
from pathlib import Path
from typing import Any

import pytest

from chat_memory_dev import cli


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench")
    assert cli.main(["bench", "--quick", "--out", str(out)]) == 0
    return out, json.loads((out / "results.json").read_text(encoding="utf-8"))


def test_writes_the_report_the_json_and_the_plots(results: tuple[Path, dict[str, Any]]) -> None:
    out, data = results
    for name in ("results.md", "results.json", "read_units.png", "write_units.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "read_units.png").read_bytes().startswith(b"\x89PNG")
    report = (out / "results.md").read_text(encoding="utf-8")
    assert "Read units per window read" in report
    assert "Cold start" in report
    assert data["plan"]["quick"] is True
    assert data["machine"]["cpu_count"]


def test_both_systems_read_and_write_at_length_100(results: tuple[Path, dict[str, Any]]) -> None:
    _, data = results
    for system in ("chat-memory", "langchain"):
        result = data["systems"][system]["100"]
        assert not result["failed"]
        for lastn in ("6", "12"):
            assert result["window"][lastn]["read_units"] > 0
            assert result["window"][lastn]["bytes_read"] > 0
        assert result["append"]["write_units_per_message"] > 0


def test_an_appended_message_costs_at_most_4_write_units(results: tuple[Path, dict[str, Any]]) -> None:
    """Issue 17: the message twice (a transaction), no MessagesByUuid entry for our uuids, a share of the session
    item, and no listing index entry (they project keys only; an append changes none)."""
    _, data = results
    for length, result in data["systems"]["chat-memory"].items():
        assert result["append"]["write_units_per_message"] <= 4, length


def test_our_window_read_does_not_grow_with_the_history_langchains_does(
    results: tuple[Path, dict[str, Any]],
) -> None:
    _, data = results
    ours, theirs = data["systems"]["chat-memory"], data["systems"]["langchain"]
    assert ours["10"]["window"]["6"]["read_units"] == ours["100"]["window"]["6"]["read_units"]
    # At 10 messages lastn=12 returns all 10, so it may cost less than 12 of the 100.
    assert ours["10"]["window"]["12"]["read_units"] <= ours["100"]["window"]["12"]["read_units"]
    assert [m["calls"] for m in ours["100"]["window"].values()] == [{"Query": 1.0}, {"Query": 1.0}]
    for lastn in ("6", "12"):
        assert theirs["100"]["window"][lastn]["read_units"] > theirs["10"]["window"][lastn]["read_units"]
        assert theirs["100"]["window"][lastn]["bytes_read"] > 5 * theirs["10"]["window"][lastn]["bytes_read"]
    # LangChain rewrites the whole item: its writes per message grow with the history, ours do not.
    assert theirs["100"]["append"]["write_units_per_message"] > theirs["10"]["append"]["write_units_per_message"]
    assert ours["100"]["append"]["write_units_per_message"] < theirs["100"]["append"]["write_units_per_message"]


def test_finds_langchains_400_kb_limit(results: tuple[Path, dict[str, Any]]) -> None:
    _, data = results
    limit = data["langchain_limit"]
    assert limit["confirmed"] is True
    assert 100 < limit["messages"] < 1_000
    assert limit["item_bytes"] <= 400 * 1024


def test_the_cli_has_the_bench_command() -> None:
    args = cli.build_parser().parse_args(["bench", "--quick", "--out", "somewhere"])
    assert args.quick is True
    assert str(args.out) == "somewhere"


def test_search_stays_in_its_call_budget_and_reads_consistently_only_the_newest(
    results: tuple[Path, dict[str, Any]],
) -> None:
    _, data = results
    for length in ("10", "100"):
        searches = data["systems"]["chat-memory"][length]["search"]
        kinds = {"similarity", "mmr", "filter only", "text and filter", "text, filter none pass", "summary scope"}
        assert set(searches) == kinds
        for kind, figures in searches.items():
            assert "Scan" not in figures["calls"] and 1 <= figures["call_count"] <= 20, (length, kind)
            assert figures["strongly_consistent_calls"] <= 3, (length, kind)  # the window, markers, index head
            assert figures["read_units"] > 0 and figures["p50_vs_window_read"] > 0
            assert figures["with_network"]["p50_vs_window_read"] > 0
    # 100 messages: the last minute's (strongly consistent), the rest (eventually), the change markers and the index
    # head, all at once: one round trip, as the window read.
    similarity = data["systems"]["chat-memory"]["100"]["search"]["similarity"]
    assert similarity["calls"] == {"Query": 3, "GetItem": 1} and similarity["strongly_consistent_calls"] == 3
    network = similarity["with_network"]
    assert network["round_trips"] == 1 == network["window_read"]["round_trips"]


def test_token_budgets_answer_what_fits_in_one_reverse_query(results: tuple[Path, dict[str, Any]]) -> None:
    _, data = results
    for length in ("10", "100"):
        budgets = data["systems"]["chat-memory"][length]["budget"]
        assert [int(b) for b in budgets] == [500, 2_000, 8_000]
        answered = [(f["messages_returned"], f["read_units"]) for f in budgets.values()]
        assert answered == sorted(answered), (length, answered)  # a larger budget answers and reads no less
        for budget, figures in budgets.items():
            assert figures["tokens_returned"] <= int(budget), (length, budget)
            assert set(figures["calls"]) == {"Query"} and figures["call_count"] <= 3, (length, budget, figures)
    at_100 = data["systems"]["chat-memory"]["100"]["budget"]
    assert at_100["500"]["messages_returned"] < at_100["8000"]["messages_returned"] < 100
    assert "## Token-budgeted memory" in (results[0] / "results.md").read_text(encoding="utf-8")


def test_the_ranker_finds_more_evidence_than_bm25_in_the_same_run(results: tuple[Path, dict[str, Any]]) -> None:
    _, data = results
    recall = data["retrieval"]["recall"]
    for half in ("tune", "held-out"):
        assert recall[f"ours {half}"]["@10"] > recall[f"bm25 {half}"]["@10"], half
    assert "Retrieval: evidence recall" in (results[0] / "results.md").read_text(encoding="utf-8")
