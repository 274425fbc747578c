"""results.md from a bench run's results: the sections in order, the tables' cells, LangChain's failures."""

from typing import Any

from chat_memory_dev.bench.report import FAILED, markdown


def _window(read_units: float, bytes_read: int, calls: dict[str, float]) -> dict[str, Any]:
    return {"read_units": read_units, "bytes_read": bytes_read, "calls": calls, "latency_ms": {"p50": 2.0, "p95": 3.0}}


def _results() -> dict[str, Any]:
    ours = {
        "failed": False,
        "window": {"6": _window(1.0, 3000, {"Query": 1.0})},
        "append": {
            "write_units_per_message": 5.0,
            "read_units_per_message": 0.5,
            "bytes_written_per_message": 900.0,
            "calls": {"GetItem": 1.0, "TransactWriteItems": 1.0},
            "latency_ms": {"p50": 4.0, "p95": 5.0},
        },
        "budget": {
            "500": {
                "messages_returned": 3,
                "tokens_returned": 457,
                "calls": {"Query": 1.0},
                "call_count": 1,
                "read_units": 1.5,
                "bytes_read": 5000,
                "latency_ms": {"p50": 2.25, "p95": 3.0},
            }
        },
    }
    theirs = {**{k: v for k, v in ours.items() if k != "budget"}, "window": {"6": _window(3.0, 9000, {"GetItem": 1.0})}}
    return {
        "command": "chat-memory bench --quick",
        "elapsed_seconds": 12.5,
        "machine": {
            "date": "2026-01-01T00:00:00+00:00",
            "cpu_count": 2,
            "platform": "Linux",
            "machine": "x86_64",
            "implementation": "CPython",
            "python": "3.11.7",
            "packages": {"moto": "5.2.5", "langchain-community": "0.4.2"},
        },
        "corpus": {"user_bytes": {"mean": 219}, "assistant_bytes": {"mean": 835}},
        "plan": {"lengths": [10, 1000], "lastn": [6], "seed": 7, "timed_reads": 5, "timed_appends": 5},
        "systems": {
            "chat-memory": {"10": ours, "1000": ours},
            "langchain": {"10": theirs, "1000": {"failed": True, "error": "item too large"}},
        },
        "langchain_limit": {"messages": 628, "item_bytes": 407203, "limit_bytes": 409600, "confirmed": True},
        "cold_start": {
            "floor: import boto3 + a DynamoDB client": {
                **{"cpu_ms": 250.0, "process_ms": 360.0, "import_ms": 260.0, "init_ms": 0.0},
                **{"ratio": 1.0, "budget": None, "runs": 3},
            },
            "reads": {
                **{"cpu_ms": 300.0, "process_ms": 420.0, "import_ms": 150.0, "init_ms": 120.0},
                **{"ratio": 1.2, "budget": 1.3, "runs": 3},
            },
        },
        "package_size": {"HealthFunction": {"built": False, "note": "not built (run make build)"}},
    }


def test_sections_come_in_order() -> None:
    headings = [line for line in markdown(_results()).splitlines() if line.startswith("#")]
    assert headings == [
        "# chat-memory vs LangChain's DynamoDBChatMessageHistory",
        "## Read units per window read",
        "## Bytes read per window read",
        "## Capacity per appended message (one user + assistant turn per call, divided by 2)",
        "## DynamoDB calls per operation",
        "## Search",
        "## Retrieval: evidence recall (baseline: ?)",  # the synthetic results have no retrieval run
        "## Token-budgeted memory",
        "## In-process latency against moto",
        "## LangChain's 400 KB item limit",
        "## Cold start",
        "## Package size",
        "## How to read these figures",
    ]


def test_tables_show_both_systems_the_ratio_and_langchains_failures() -> None:
    lines = markdown(_results()).splitlines()
    assert lines[2].startswith("`chat-memory bench --quick`, 2026-01-01T00:00:00+00:00, 12.5 s. Machine: 2 CPUs")
    assert "| 10 | 1 | 3 | 3.0x |" in lines
    assert f"| 1,000 | 1 | {FAILED} | - |" in lines
    assert "| 10 | 3,000 | 9,000 | 3.0x |" in lines
    assert "| 10 | 5 | 5 | 1.0x | 0.5 | 0.5 | 1.0x | 900 | 900 | 1.0x |" in lines
    assert "| 10 | chat-memory | lastn=6: 1 Query | 1 GetItem, 1 TransactWriteItems |" in lines
    assert f"| 1,000 | LangChain | {FAILED} | {FAILED} |" in lines
    assert "| 10 | window read lastn=6 | 2 / 3 | 2 / 3 | 1.0x |" in lines
    assert "| HealthFunction | not built (run make build) |  |  |  |" in lines
    assert any(
        line.startswith("LangChain failed at history length 1,000 (no figures there): item too large.")
        for line in lines
    )
    assert markdown(_results()).endswith("\n")


def test_the_budget_table_shows_what_each_budget_answered_and_cost() -> None:
    lines = markdown(_results()).splitlines()
    assert "| 10 | 500 | 3 | 457 | 1 Query | 1.5 | 2.2 | 3.0 |" in lines
    assert "| 1,000 | 500 | 3 | 457 | 1 Query | 1.5 | 2.2 | 3.0 |" in lines


def test_cold_start_rows_give_each_handlers_cpu_against_the_floor_and_its_budget() -> None:
    results = _results()
    results["cold_start"]["writes"] = {
        **{"cpu_ms": 400.0, "process_ms": 500.0, "import_ms": 200.0, "init_ms": 150.0},
        **{"ratio": 1.6, "budget": 1.3, "runs": 3},
    }
    text = markdown(results)
    assert "| `chat_memory.handlers.reads` | 300 | 1.20x | 1.3x (met) | 420 | 150 | 120 |" in text
    assert "| `chat_memory.handlers.writes` | 400 | 1.60x | 1.3x (missed) |" in text
    assert "| floor: import boto3 + a DynamoDB client | 250 | 1.00x | - |" in text
