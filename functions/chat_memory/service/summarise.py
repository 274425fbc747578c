"""Perpetual memory: fold a session's older messages into a running summary, in the background.

Rules (see the README):
- a session is summarised once more than W messages are newer than its summary point;
- everything but the newest W/2 messages is then folded, oldest first, into a summary built from the previous
  summary's text plus the new lines "{role}: {content}";
- a backlog larger than the model's input budget is folded chunk by chunk, each chunk building on the summary
  so far, and each step is saved, so an interrupted run resumes where it stopped;
- every write is conditional on the summary version it was built from: two summarisers of one session can never
  move the point backwards or drop a message from coverage; the loser re-reads and carries on from the winner.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from chat_memory.domain.models import StoredMessage, Summary, SummaryState
from chat_memory.domain.ports import SummaryModel, SummaryStore, TokenCounter

# Messages read per Query while folding a backlog.
_PAGE = 200
# A summariser that keeps losing races to another one gives up; the other one has done the work.
_MAX_CONFLICTS = 5


def summary_line(message: StoredMessage) -> str:
    return f"{message.role}: {message.content}"


@dataclass
class SummariseReport:
    """What one run did, for metrics."""

    summaries_written: int = 0
    messages_folded: int = 0
    model_input_tokens: int = 0
    model_output_tokens: int = 0
    lag_seconds: list[float] = field(default_factory=list)  # per summary: now - created_at of its newest message


def _now_micros() -> int:
    return time.time_ns() // 1_000


@dataclass(frozen=True)
class SummariseSession:
    store: SummaryStore
    model: SummaryModel
    tokens: TokenCounter
    window: int  # W
    max_input_tokens: int
    clock: Callable[[], int] = _now_micros

    def __call__(self, tenant: str, session_id: str) -> SummariseReport:
        report = SummariseReport()
        conflicts = 0
        while conflicts < _MAX_CONFLICTS:
            state = self.store.summary_state(tenant, session_id)
            if state is None:
                return report  # deleted meanwhile: nothing to summarise
            outcome = self._fold(tenant, session_id, state, report)
            if outcome == "done":
                return report
            conflicts += 1
        return report

    def _fold(self, tenant: str, session_id: str, state: SummaryState, report: SummariseReport) -> str:
        """Fold the backlog after the summary point; "done", or "conflict" when another writer won."""
        point = state.summary.recent_message_ts if state.summary else state.first_ts - 1
        newer = self.store.message_timestamps(tenant, session_id, point, self.window + 1, newest_first=False)
        if len(newer) <= self.window:
            return "done"
        keep = max(1, self.window // 2)
        newest = self.store.message_timestamps(tenant, session_id, point, keep, newest_first=True)
        cutoff = newest[-1]  # the oldest message that stays out of the summary
        summary = state.summary
        version = state.version
        pending: list[StoredMessage] = []
        while True:
            if not pending:
                pending = self.store.messages_between(tenant, session_id, point, cutoff, _PAGE)
                if not pending:
                    return "done"
            chunk = self._take_chunk(pending)
            pending = pending[len(chunk) :]
            result = self.model.summarise(
                summary.content if summary else None, [summary_line(m) for m in chunk], state.instruction
            )
            report.model_input_tokens += result.input_tokens
            report.model_output_tokens += result.output_tokens
            newest_folded = chunk[-1]
            written = Summary(
                uuid=str(uuid.uuid4()),
                ts=self.clock(),
                content=result.text,
                recent_message_uuid=newest_folded.uuid,
                recent_message_ts=newest_folded.ts,
                token_count=self.tokens.count(result.text),
            )
            if not self.store.write_summary(tenant, session_id, written, version):
                return "conflict"
            report.summaries_written += 1
            report.messages_folded += len(chunk)
            report.lag_seconds.append(max(0.0, (written.ts - newest_folded.ts) / 1e6))
            summary, version, point = written, version + 1, newest_folded.ts

    def _take_chunk(self, pending: list[StoredMessage]) -> list[StoredMessage]:
        """The longest prefix of `pending` within the input budget (always at least one message)."""
        budget = self.max_input_tokens
        used = 0
        for index, message in enumerate(pending):
            used += self.tokens.count(summary_line(message))
            if used > budget and index > 0:
                return pending[:index]
        return pending
