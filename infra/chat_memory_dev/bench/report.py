"""results.md and the PNG plots of a `chat-memory bench` run, from its results (what results.json holds)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any, Final

OURS: Final = "chat-memory"
LANGCHAIN: Final = "langchain"
NONE: Final = "-"
NAMES: Final = {OURS: "chat-memory", LANGCHAIN: "LangChain"}
PLOTS: Final = {"read_units": "read_units.png", "write_units": "write_units.png"}


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return NONE
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    text = f"{value:,.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ratio(theirs: float | None, ours: float | None) -> str:
    if theirs is None or ours is None or ours == 0:
        return NONE
    return f"{theirs / ours:,.1f}x"


def _failed(result: Mapping[str, Any]) -> bool:
    return bool(result.get("failed"))


FAILED: Final = "fails: item > 400 KB"


def _window(result: Mapping[str, Any], lastn: int, field: str) -> float | None:
    if _failed(result):
        return None
    value = result["window"][str(lastn)][field]
    return float(value)


def _append(result: Mapping[str, Any], field: str) -> float | None:
    if _failed(result) or "append" not in result:
        return None
    return float(result["append"][field])


def _cell(result: Mapping[str, Any], value: float | None) -> str:
    return FAILED if _failed(result) else _num(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _per_length_table(
    results: Mapping[str, Any], columns: list[tuple[str, Callable[[Mapping[str, Any]], float | None]]]
) -> str:
    """One row per history length; for each column: chat-memory, LangChain, LangChain ÷ chat-memory."""
    systems = results["systems"]
    header = ["history (messages)"]
    for title, _ in columns:
        header += [f"{title}: chat-memory", "LangChain", "ratio"]
    rows = []
    for length in results["plan"]["lengths"]:
        ours, theirs = systems[OURS][str(length)], systems[LANGCHAIN][str(length)]
        row = [f"{length:,}"]
        for _, get in columns:
            a, b = get(ours), get(theirs)
            row += [_cell(ours, a), _cell(theirs, b), NONE if _failed(theirs) else _ratio(b, a)]
        rows.append(row)
    return _table(header, rows)


def _window_latency(result: Mapping[str, Any], lastn: int) -> Mapping[str, Any] | None:
    return None if _failed(result) else result["window"][str(lastn)]["latency_ms"]


def _append_latency(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return None if _failed(result) else result.get("append", {}).get("latency_ms")


def _calls(calls: Mapping[str, float]) -> str:
    return ", ".join(f"{_num(n)} {name}" for name, n in calls.items()) or NONE


def _calls_table(results: Mapping[str, Any]) -> str:
    rows = []
    for length in results["plan"]["lengths"]:
        for system in (OURS, LANGCHAIN):
            result = results["systems"][system][str(length)]
            if _failed(result):
                rows.append([f"{length:,}", NAMES[system], FAILED, FAILED])
                continue
            reads = "; ".join(f"lastn={n}: {_calls(w['calls'])}" for n, w in result["window"].items())
            append = _calls(result["append"]["calls"]) if "append" in result else NONE
            rows.append([f"{length:,}", NAMES[system], reads, append])
    return _table(["history (messages)", "system", "window read", "append one turn (2 messages)"], rows)


def _latency_table(results: Mapping[str, Any]) -> str:
    rows = []
    for length in results["plan"]["lengths"]:
        ours, theirs = results["systems"][OURS][str(length)], results["systems"][LANGCHAIN][str(length)]
        operations: list[tuple[str, Callable[[Mapping[str, Any]], Mapping[str, Any] | None]]] = [
            (f"window read lastn={n}", partial(_window_latency, lastn=n)) for n in results["plan"]["lastn"]
        ]
        operations.append(("append one turn", _append_latency))
        for title, get in operations:
            a, b = get(ours), get(theirs)
            rows.append(
                [
                    f"{length:,}",
                    title,
                    f"{_num(a['p50'], 1)} / {_num(a['p95'], 1)}" if a else NONE,
                    f"{_num(b['p50'], 1)} / {_num(b['p95'], 1)}" if b else FAILED,
                    _ratio(b["p50"], a["p50"]) if a and b else NONE,
                ]
            )
    return _table(
        ["history (messages)", "operation", "chat-memory p50 / p95 (ms)", "LangChain p50 / p95 (ms)", "ratio (p50)"],
        rows,
    )


def _cold_table(results: Mapping[str, Any]) -> str:
    rows = []
    for name, f in results["cold_start"].items():
        label = f"`chat_memory.handlers.{name}`" if "." not in name and " " not in name else name
        ratio = NONE if f.get("ratio") is None else f"{f['ratio']:.2f}x"
        budget = f.get("budget")
        verdict = NONE if budget is None or f.get("ratio") is None else ("met" if f["ratio"] <= budget else "missed")
        rows.append(
            [
                label,
                _num(f["cpu_ms"], 0),
                ratio,
                NONE if budget is None else f"{budget}x ({verdict})",
                _num(f["process_ms"], 0),
                _num(f["import_ms"], 0),
                _num(f["init_ms"], 0),
            ]
        )
    runs = next(iter(results["cold_start"].values()))["runs"]
    header = [
        f"fresh process (median of {runs})",
        "CPU (ms)",
        "CPU / floor",
        "budget",
        "wall (ms)",
        "import (ms)",
        "first invocation (ms)",
    ]
    return _table(header, rows)


def _mib(value: int | None) -> str:
    return NONE if value is None else f"{value / 2**20:,.1f} MiB"


def _package_table(results: Mapping[str, Any]) -> str:
    rows = []
    for function, entry in results["package_size"].items():
        if not entry["built"]:
            rows.append([function, entry["note"], "", "", ""])
            continue
        zipped = _mib(entry["zip_bytes"]) if entry["zip_bytes"] is not None else "not measured (--quick)"
        rows.append([function, _mib(entry["bytes"]), _mib(entry["disk_bytes"]), zipped, f"{entry['files']:,}"])
    return _table(["function (.aws-sam/build)", "files' size", "on disk (du -s)", "zipped (deflate)", "files"], rows)


def _limit_text(results: Mapping[str, Any]) -> str:
    limit = results["langchain_limit"]
    failures = [
        (int(length), r.get("error") or r.get("append_failed"))
        for length, r in results["systems"][LANGCHAIN].items()
        if _failed(r) or "append_failed" in r
    ]
    if failures:
        lengths = ", ".join(f"{length:,}" for length, _ in failures)
        where = f"LangChain failed at history length {lengths} (no figures there): {failures[0][1]}."
    else:
        where = "LangChain did not fail at any measured length."
    check = "confirmed on moto" if limit.get("confirmed") else "not confirmed on moto"
    return (
        f"{where} Growing this conversation from its first message, LangChain's single item holds "
        f"**{limit['messages']:,} messages** ({limit['item_bytes']:,} of {limit['limit_bytes']:,} bytes); "
        f"the next `add_messages` fails ({check}: {limit.get('moto', '')}). chat-memory stores each message as "
        "its own item, so no history length reaches the limit."
    )


NOTES: Final = (
    "- **Capacity** is computed per call from the items in each request and response "
    "(`chat_memory_dev.bench.capacity`): Query rounds the sum of the items it returns to 4 KB once; GetItem "
    "rounds its item; every write rounds each item to 1 KB, twice that in a transaction. LangChain's UpdateItem "
    "is sized from its key and the new `History` value (the attribute's name, 7 bytes, is not in the request).",
    "- **Our window read** is one Query with `Limit = lastn + 2` (room for the current summary and the session "
    "item). These sessions have no summary (the summariser is not run here), so the Query also returns one "
    "message more than asked for. With a summary the read returns the summary item too: a constant, whatever "
    "the history length.",
    "- **Our append** is one strongly consistent GetItem of the session item plus one TransactWriteItems "
    "(the session item and the two messages, each at twice the write price). LangChain's is an eventually "
    "consistent GetItem of the whole conversation plus an UpdateItem that writes all of it back.",
    "- **Filling**: our histories are written straight into the table in the repository's item layout "
    "(BatchWriteItem), LangChain's as the one item `add_messages` would have left; only the measured operations "
    "go through the handlers and through LangChain's methods. Every length appends the same turns.",
    "- **Latency** is moto's, in this process: moto's Query and TransactWriteItems take longer as a partition "
    "grows (they walk it), which DynamoDB's do not; our figures at 1,000 and 10,000 messages mostly measure "
    "that. Use the capacity figures to compare costs and the latency ratios only at equal lengths.",
    "- **Cold start** runs on this machine's CPython, not on the Lambda runtime (python3.13, arm64), and "
    "counts no Lambda sandbox set-up: compare the rows with one another.",
)


def markdown(results: Mapping[str, Any]) -> str:
    """results.md: a run's results as Markdown, its sections in this order."""
    return "\n".join([*_introduction(results), *_capacity_sections(results), *_other_sections(results)])


def _introduction(results: Mapping[str, Any]) -> list[str]:
    """The title, the command and machine, and what was measured how."""
    machine = results["machine"]
    corpus = results["corpus"]
    plan = results["plan"]
    return [
        "# chat-memory vs LangChain's DynamoDBChatMessageHistory",
        "",
        f"`{results['command']}`, {machine['date']}, {results['elapsed_seconds']} s. Machine: "
        f"{machine['cpu_count']} CPUs, {machine['platform']} ({machine['machine']}), "
        f"{machine['implementation']} {machine['python']}; moto {machine['packages'].get('moto')}, "
        f"langchain-community {machine['packages'].get('langchain-community')}.",
        "",
        f"Both systems on one in-process moto DynamoDB, the same conversation (seed {plan['seed']}: user messages "
        f"{corpus['user_bytes']['mean']} bytes on average, assistant messages {corpus['assistant_bytes']['mean']}; "
        "each history length is the tail of one 10,000-message conversation, so every window read returns the "
        "same messages). Capacity units are computed per DynamoDB call from DynamoDB's documented sizing rules "
        "(moto's own ConsumedCapacity is a constant). chat-memory reads are strongly consistent (a full unit per "
        "4 KB); LangChain's GetItem is eventually consistent (half). Ratio = LangChain ÷ chat-memory.",
        "",
    ]


def _capacity_sections(results: Mapping[str, Any]) -> list[str]:
    """Read and write units, bytes and DynamoDB calls per operation."""
    lastn = results["plan"]["lastn"]
    return [
        "## Read units per window read",
        "",
        _per_length_table(results, [(f"lastn={n}", partial(_window, lastn=n, field="read_units")) for n in lastn]),
        "",
        f"![read units per window read]({PLOTS['read_units']})",
        "",
        "## Bytes read per window read",
        "",
        _per_length_table(results, [(f"lastn={n}", partial(_window, lastn=n, field="bytes_read")) for n in lastn]),
        "",
        "## Capacity per appended message (one user + assistant turn per call, divided by 2)",
        "",
        _per_length_table(
            results,
            [
                ("write units", partial(_append, field="write_units_per_message")),
                ("read units", partial(_append, field="read_units_per_message")),
                ("bytes written", partial(_append, field="bytes_written_per_message")),
            ],
        ),
        "",
        f"![write units per appended message]({PLOTS['write_units']})",
        "",
        "## DynamoDB calls per operation",
        "",
        _calls_table(results),
        "",
    ]


def _round_trip_ms(results: Mapping[str, Any]) -> str:
    for scenario in results["systems"].get(OURS, {}).values():
        for figures in scenario.get("search", {}).values():
            if "with_network" in figures:
                return f"{figures['with_network']['round_trip_ms']:g}"
    return "?"


def _network_cells(figures: Mapping[str, Any]) -> str:
    """Round trips, p50 with the modeled network and its ratio to the window read's (which made that many)."""
    network = figures.get("with_network")
    if network is None:
        return "n/a | n/a | n/a | n/a | n/a | n/a"
    window = network["window_read"]
    return (
        f"{network['round_trips']} (window read: {window['round_trips']}) | {network['latency_ms']['p50']:.1f} | "
        f"{network['p50_vs_window_read']:g} | {network['outside_dynamodb_ms']['p50']:.1f} | "
        f"{network['modeled_ms']:.1f} (window read: {window['modeled_ms']:.1f}) | {network['modeled_vs_window_read']:g}"
    )


def _search_sections(results: Mapping[str, Any]) -> list[str]:
    """Search per history length and kind (chat-memory only), and the retrieval benchmark."""
    rows = [
        "| messages | search | calls | strongly consistent calls | read units (strongly consistent) | p50 ms | p95 ms "
        "| p50 ÷ window read | read units ÷ window read | round trips | p50 ms with network | ÷ window read "
        "| ms outside DynamoDB | modeled ms | ÷ window read |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for length, scenario in results["systems"].get(OURS, {}).items():
        for kind, f in scenario.get("search", {}).items():
            rows.append(
                f"| {int(length):,} | {kind} | {f['call_count']} | {f['strongly_consistent_calls']} | "
                f"{f['read_units']:g} ({f['strongly_consistent_read_units']:g}) | {f['latency_ms']['p50']:.1f} | "
                f"{f['latency_ms']['p95']:.1f} | {f['p50_vs_window_read']:g} | {f['read_units_vs_window_read']:g} | "
                f"{_network_cells(f)} |"
            )
    index_rows = [
        "| messages | blocks | write units | write units per message | bytes written |",
        "|---|---|---|---|---|",
    ]
    for length, scenario in results["systems"].get(OURS, {}).items():
        if (i := scenario.get("index")) is not None:
            index_rows.append(
                f"| {int(length):,} | {i['blocks']} | {i['write_units']:g} | {i['write_units_per_message']:g} | "
                f"{i['bytes_written']:,} |"
            )
    retrieval = results.get("retrieval", {})
    recall = ["| ranker, half | R@5 | R@10 | R@20 |", "|---|---|---|---|"] + [
        f"| {name} | {r['@5']:.1%} | {r['@10']:.1%} | {r['@20']:.1%} |"
        for name, r in retrieval.get("recall", {}).items()
    ]
    return [
        "## Search",
        "",
        "`POST /sessions/{id}/search` through the read handler on each session above, once the indexer has indexed "
        "it (sealed blocks of 200 messages; a session of 100 or fewer has none). Window read = GET memory, lastn 12, "
        "of the same session. With network: every DynamoDB call waits a modeled round trip first "
        f"({_round_trip_ms(results)} ms; calls made at once wait together); round trips: the longest chain of calls "
        "each made after the one before it answered. Outside DynamoDB: the in-process time minus the time some call "
        "was in the local engine (from the request built to the answer in); modeled: that plus one modeled round "
        "trip per round trip, an estimate of the latency on AWS (DynamoDB's own time inside the round trip).",
        "",
        "\n".join(rows),
        "",
        "Search index written by the indexer (per session above):",
        "",
        "\n".join(index_rows),
        "",
        f"## Retrieval: evidence recall (baseline: {retrieval.get('baseline', '?')})",
        "",
        "\n".join(recall),
        "",
    ]


def _budget_section(results: Mapping[str, Any]) -> list[str]:
    """Token-budgeted memory reads per history length and budget (chat-memory only)."""
    rows = [
        "| messages | max_tokens | messages returned | tokens returned | calls | read units | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for length, scenario in results["systems"].get(OURS, {}).items():
        for budget, f in scenario.get("budget", {}).items():
            rows.append(
                f"| {int(length):,} | {int(budget):,} | {f['messages_returned']} | {f['tokens_returned']:,} | "
                f"{_calls(f['calls'])} | {f['read_units']:g} | {f['latency_ms']['p50']:.1f} | "
                f"{f['latency_ms']['p95']:.1f} |"
            )
    return [
        "## Token-budgeted memory",
        "",
        "`GET /sessions/{id}/memory?max_tokens=N` through the read handler on each session above (no summary in "
        "these sessions): the newest messages that fit in N tokens, one reverse Query stopped once the budget is met.",
        "",
        "\n".join(rows),
        "",
    ]


def _other_sections(results: Mapping[str, Any]) -> list[str]:
    """Latency, LangChain's item limit, cold start, package size and how to read it all."""
    plan = results["plan"]
    return [
        *_search_sections(results),
        *_budget_section(results),
        "## In-process latency against moto",
        "",
        f"Wall time of our handler (HTTP API event in, response out) and of LangChain's method, "
        f"{plan['timed_reads']} reads and {plan['timed_appends']} appends each, capacity recorder detached. moto "
        "is slower than DynamoDB and has no network: compare the columns, not the absolute times.",
        "",
        _latency_table(results),
        "",
        "## LangChain's 400 KB item limit",
        "",
        _limit_text(results),
        "",
        "## Cold start",
        "",
        "A fresh `python -c` per run, round robin: the floor every Python Lambda pays anyway (import boto3, make "
        "one DynamoDB client), and each handler's import plus its first invocation (its event from `events/`; "
        "for the authorizer, a valid key, then its tenant's settings) against a warm local DynamoDB. Compared by "
        "the whole process's CPU time (user + system): wall time on a shared machine measures the neighbours.",
        "",
        _cold_table(results),
        "",
        "## Package size",
        "",
        _package_table(results),
        "",
        "## How to read these figures",
        "",
        *NOTES,
        "",
    ]


def _series(
    results: Mapping[str, Any], system: str, get: Callable[[Mapping[str, Any]], float | None]
) -> tuple[list[int], list[float]]:
    xs: list[int] = []
    ys: list[float] = []
    for length in results["plan"]["lengths"]:
        value = get(results["systems"][system][str(length)])
        if value is not None:
            xs.append(int(length))
            ys.append(value)
    return xs, ys


def write_plots(results: Mapping[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    limit = results["langchain_limit"]["messages"]
    written = []
    specs: list[tuple[str, str, list[tuple[str, str, Callable[[Mapping[str, Any]], float | None], str]]]] = [
        (
            "read_units",
            "read units per window read",
            [
                (system, f"{NAMES[system]} lastn={n}", partial(_window, lastn=n, field="read_units"), style)
                for system in (OURS, LANGCHAIN)
                for n, style in zip(results["plan"]["lastn"], ("-o", "--s"), strict=False)
            ],
        ),
        (
            "write_units",
            "write units per appended message",
            [
                (system, NAMES[system], partial(_append, field="write_units_per_message"), "-o")
                for system in (OURS, LANGCHAIN)
            ],
        ),
    ]
    for key, ylabel, lines in specs:
        fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
        for system, label, get, style in lines:
            xs, ys = _series(results, system, get)
            if xs:
                ax.plot(xs, ys, style, label=label, color="tab:blue" if system == OURS else "tab:orange")
        ax.axvline(limit, color="tab:red", linestyle=":", linewidth=1)
        ax.annotate(
            f"LangChain's item > 400 KB\nafter {limit:,} messages",
            xy=(limit, 0.5),
            xycoords=("data", "axes fraction"),
            xytext=(4, 0),
            textcoords="offset points",
            color="tab:red",
            fontsize=8,
        )
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel("history length (messages)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"{ylabel} (DynamoDB sizing rules, moto)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / PLOTS[key]
        fig.savefig(path)
        plt.close(fig)
        written.append(path)
    return written
