"""`export -o FILE --resume`: where an interrupted export of FILE stopped (after its last complete session)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from chat_memory.domain.models import Position
from chat_memory_dev.cli_aws import CliError
from chat_memory_dev.transfer.export import Totals
from chat_memory_dev.transfer.format import micros


@dataclass
class Resume:
    """Keep FILE's first `offset` bytes (up to its last `session_end`) and continue after session `after`."""

    offset: int
    after: Position
    totals: Totals


def resume_point(path: Path, tenant: str) -> Resume | None:
    """None when FILE has no complete session (start again); CliError when it is another export or finished."""
    resume: Resume | None = None
    totals = Totals()
    offset = 0
    last_session: Position | None = None
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, 1):
            offset += len(raw)
            if not raw.endswith(b"\n"):
                break  # cut off mid-line
            line = json.loads(raw)
            kind = line.get("type")
            if number == 1 and (kind != "format" or line.get("tenant") != tenant or line.get("session_id")):
                raise CliError(f"{path} is not an export of the whole tenant {tenant!r}: cannot resume it")
            if kind == "end":
                raise CliError(f"{path} is a complete export already (it has its end line)")
            if kind == "user":
                totals.users += 1
            elif kind == "session":
                last_session = Position(micros(line["created_at"]), line["session_id"])
            elif kind == "session_end" and last_session is not None:
                totals.sessions += 1
                totals.messages += int(line["messages"])
                resume = Resume(offset, last_session, Totals(totals.users, totals.sessions, totals.messages))
    return resume
