"""A synthetic export (format v1) of one tenant: `--sessions` sessions of `--messages` messages each, written as it
is generated (flat memory), to fill a table through `chat-memory import` and measure `chat-memory export` on it.

    python -m chat_memory_dev.bench.big_export --sessions 100 --messages 1000 -o big.jsonl
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator, Sequence

from chat_memory.domain.models import RoleType, rfc3339_from_micros
from chat_memory_dev.transfer.format import (
    EndLine,
    FormatLine,
    Line,
    MessageLine,
    SessionEndLine,
    SessionLine,
    dump_line,
)

_START = 1_780_000_000_000_000  # 2026-05-28, in microseconds
_TEXT = "The quick brown fox jumps over the lazy dog while the assistant keeps the whole conversation. "


def lines(sessions: int, messages: int, content_chars: int) -> Iterator[Line]:
    yield FormatLine(tenant="big")
    ts = _START
    for s in range(sessions):
        session_id = f"session-{s:06d}"
        at = rfc3339_from_micros(ts)
        yield SessionLine(session_id=session_id, uuid=str(uuid.uuid4()), created_at=at, updated_at=at)
        for m in range(messages):
            ts += 1_000
            role_type = RoleType.USER if m % 2 == 0 else RoleType.ASSISTANT
            content = (f"{m} " + _TEXT * (content_chars // len(_TEXT) + 1))[:content_chars]
            yield MessageLine(
                uuid=str(uuid.uuid4()), created_at=rfc3339_from_micros(ts), role=role_type.value,
                role_type=role_type, content=content, token_count=content_chars // 4,
            )  # fmt: skip
        yield SessionEndLine(session_id=session_id, messages=messages, summaries=0)
    yield EndLine(users=0, sessions=sessions, messages=sessions * messages)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--messages", type=int, default=1000, help="per session")
    parser.add_argument("--content-chars", type=int, default=400, help="characters per message")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    with open(args.output, "w", encoding="utf-8", newline="\n") as out:
        for line in lines(args.sessions, args.messages, args.content_chars):
            out.write(dump_line(line) + "\n")
    print(f"wrote {args.sessions * args.messages:,} messages to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
