"""`chat-memory bench --local`: does `make run` hold a real workload? One session grown over HTTP with the real client.

It starts `chat-memory serve` as `make run` does (embedded DynamoDB, a data folder, the stream consumers, worker
processes; or uses `--url`/`--api-key`), fills the table with other sessions (`filler` messages, 99 per
add_memory), waits for the summariser to catch up, then grows ONE session in chat turns (one user and one
assistant message per `add_memory`, with zep-python 2.0.0rc6), reading its window (`get_memory`, message_window)
after every turn. It reports add and window-read latency (p50, p95) per thousand messages of that session, the
errors, the server's memory (RSS) at the end, and checks the targets: no error, and the p95 of the last thousand
messages at most `MAX_GROWTH` times that of the first thousand, for adds and reads alike.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from chat_memory_dev.bench import corpus
from chat_memory_dev.stats import percentile
from chat_memory_dev.template import load_template

MAX_GROWTH: Final = 1.5  # the target: p95 at the end over p95 over the first thousand messages
BUCKET: Final = 1_000  # messages of the measured session per reported row
FILL_BATCH: Final = 99  # messages per add_memory while filling (the most one request takes)
CATCH_UP_S: Final = 600.0  # a bound on waiting for the summariser after the fill


@dataclass(frozen=True)
class LocalPlan:
    session_messages: int
    filler_messages: int
    filler_sessions: int


FULL: Final = LocalPlan(session_messages=20_000, filler_messages=100_000, filler_sessions=100)
QUICK: Final = LocalPlan(session_messages=2_000, filler_messages=10_000, filler_sessions=20)


def _ms(values: Sequence[float], p: float) -> float | None:
    return round(percentile(values, p) * 1000, 1) if values else None


@dataclass
class Bucket:
    """The measurements of one thousand messages of the measured session."""

    upto: int  # messages in the session at the end of this bucket
    adds: list[float]
    reads: list[float]
    errors: int = 0

    def row(self) -> dict[str, Any]:
        return {
            "messages": self.upto,
            "add_p50_ms": _ms(self.adds, 50),
            "add_p95_ms": _ms(self.adds, 95),
            "read_p50_ms": _ms(self.reads, 50),
            "read_p95_ms": _ms(self.reads, 95),
            "errors": self.errors,
        }


def _memory(turn: corpus.Turn) -> Any:
    from zep_python.memory import Memory
    from zep_python.message import Message
    from zep_python.message.models import RoleType

    return Memory(
        messages=[
            Message(role="user", role_type=RoleType.USER_ROLE, content=turn.user),
            Message(role="assistant", role_type=RoleType.ASSISTANT_ROLE, content=turn.assistant),
        ]
    )


def _fill(client: Any, plan: LocalPlan) -> list[str]:
    """Other sessions holding `filler_messages` in all, written 99 messages at a time; returns their ids."""
    from zep_python.memory import Memory
    from zep_python.message import Message
    from zep_python.message.models import RoleType

    turns = corpus.conversation(plan.filler_messages)
    user, assistant = RoleType.USER_ROLE, RoleType.ASSISTANT_ROLE
    lines = [(role, text) for t in turns for role, text in ((user, t.user), (assistant, t.assistant))]
    per_session = plan.filler_messages // plan.filler_sessions
    sessions = [f"filler-{n:04d}-{uuid.uuid4().hex[:6]}" for n in range(plan.filler_sessions)]
    for n, session in enumerate(sessions):
        mine = lines[n * per_session : (n + 1) * per_session]
        for start in range(0, len(mine), FILL_BATCH):
            batch = [Message(role=r.value, role_type=r, content=c) for r, c in mine[start : start + FILL_BATCH]]
            client.memory.add_memory(session, Memory(messages=batch))
    return sessions


def _caught_up(client: Any, session: str, window: int) -> bool:
    """The summariser has folded `session` as far as it will: its summary ends among the newest `window` messages."""
    summary = client.memory.get_memory(session, memory_type="perpetual").summary
    newest = client.memory.get_memory(session, memory_type="message_window", lastn=window).messages or []
    return summary is not None and summary.recent_message_uuid in {m.uuid for m in newest}


def _grow(client: Any, plan: LocalPlan, session: str) -> list[Bucket]:
    buckets = [Bucket(upto, [], []) for upto in range(BUCKET, plan.session_messages + 1, BUCKET)]
    for n, turn in enumerate(corpus.new_turns(plan.session_messages // 2)):
        bucket = buckets[(2 * n) // BUCKET]
        try:
            started = time.perf_counter()
            client.memory.add_memory(session, _memory(turn))
            bucket.adds.append(time.perf_counter() - started)
            started = time.perf_counter()
            client.memory.get_memory(session, memory_type="message_window")
            bucket.reads.append(time.perf_counter() - started)
        except Exception:  # counted, and the run goes on: the report says how many
            bucket.errors += 1
    return buckets


def _rss_mib(pid: int | None) -> float | None:
    """Resident memory of a process and its children (the handler workers), MiB; None when unknown."""
    if pid is None:
        return None
    from chat_memory_dev.local.child import children_of

    total = 0
    for process in [pid, *children_of(pid)]:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{process}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return round(total / 1024, 1)


@contextlib.contextmanager
def _server(url: str | None, api_key: str | None) -> Iterator[tuple[str, str, int | None]]:
    if url is not None:
        if not api_key:
            raise SystemExit("chat-memory bench --local: --url needs --api-key")
        yield url, api_key, None
        return
    from chat_memory_dev.local.child import local_serve

    key = f"cm_bench-local-{uuid.uuid4().hex}"
    with local_serve(key, "chat-memory-bench-local") as served:
        yield served.url, key, served.pid


def run_local(plan: LocalPlan, out: Path, url: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    from zep_python import ZepClient

    out.mkdir(parents=True, exist_ok=True)
    begun = time.monotonic()
    with _server(url, api_key) as (base, key, pid):
        client = ZepClient(api_url=base, api_key=key)
        try:
            fillers = _fill(client, plan)
            filled_s = time.monotonic() - begun
            deadline = time.monotonic() + CATCH_UP_S
            window = int(load_template()["Parameters"]["SessionWindow"]["Default"])
            while not _caught_up(client, fillers[-1], window) and time.monotonic() < deadline:
                time.sleep(1)
            rss_before = _rss_mib(pid)
            grown = time.monotonic()
            buckets = _grow(client, plan, f"measured-{uuid.uuid4().hex[:8]}")
            grow_s = time.monotonic() - grown
            rss_after = _rss_mib(pid)
        finally:
            client.close()
    results = _results(plan, buckets, filled_s, grow_s, rss_before, rss_after)
    (out / "local.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    (out / "local.md").write_text(render(results), encoding="utf-8")
    plot(results, out / "local-latency.png")
    return results


def _results(
    plan: LocalPlan,
    buckets: Sequence[Bucket],
    filled_s: float,
    grow_s: float,
    rss_before: float | None,
    rss_after: float | None,
) -> dict[str, Any]:
    rows = [b.row() for b in buckets]
    first, last = rows[0], rows[-1]
    ratios = {
        "add": round(last["add_p95_ms"] / first["add_p95_ms"], 2),
        "read": round(last["read_p95_ms"] / first["read_p95_ms"], 2),
    }
    errors = sum(b.errors for b in buckets)
    return {
        "plan": {
            "session_messages": plan.session_messages,
            "filler_messages": plan.filler_messages,
            "filler_sessions": plan.filler_sessions,
        },
        "rows": rows,
        "p95_growth": ratios,
        "errors": errors,
        "targets_met": errors == 0 and all(r <= MAX_GROWTH for r in ratios.values()),
        "fill_seconds": round(filled_s, 1),
        "grow_seconds": round(grow_s, 1),
        "server_rss_mib": {"after_fill": rss_before, "at_end": rss_after},
        "machine": {"cpus": os.cpu_count()},
    }


def render(results: dict[str, Any]) -> str:
    plan, ratios = results["plan"], results["p95_growth"]
    lines = [
        "# `make run` under a growing session",
        "",
        f"One session grown to {plan['session_messages']:,} messages in chat turns (zep-python 2.0.0rc6 over HTTP), "
        f"with {plan['filler_messages']:,} messages of {plan['filler_sessions']} other sessions in the table.",
        "",
        "| messages in the session | add p50 (ms) | add p95 (ms) | window read p50 (ms) | window read p95 (ms) "
        "| errors |",
        "|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        lines.append(
            f"| {row['messages']:,} | {row['add_p50_ms']} | {row['add_p95_ms']} | {row['read_p50_ms']} | "
            f"{row['read_p95_ms']} | {row['errors']} |"
        )
    rss = results["server_rss_mib"]
    lines += [
        "",
        f"p95 of the last thousand over the first: add {ratios['add']}x, window read {ratios['read']}x (target: at "
        f"most {MAX_GROWTH}x); errors: {results['errors']} (target: 0). Targets met: "
        f"{'yes' if results['targets_met'] else 'NO'}.",
        f"Fill: {results['fill_seconds']} s; growth: {results['grow_seconds']} s. Server RSS (with its workers): "
        f"{rss['after_fill']} MiB after the fill, {rss['at_end']} MiB at the end.",
        "",
    ]
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["rows"]
    x = [row["messages"] / 1000 for row in rows]
    figure, axis = plt.subplots(figsize=(7, 4))
    for key, label, style in (
        ("add_p95_ms", "add_memory p95", "-"),
        ("add_p50_ms", "add_memory p50", ":"),
        ("read_p95_ms", "window read p95", "-"),
        ("read_p50_ms", "window read p50", ":"),
    ):
        axis.plot(x, [row[key] for row in rows], style, marker="o", markersize=3, label=label)
    axis.set_xlabel("messages in the session (thousands)")
    axis.set_ylabel("latency over HTTP (ms)")
    axis.set_ylim(bottom=0)
    plan = results["plan"]
    axis.set_title(f"make run, {plan['filler_messages']:,} other messages in the table")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
