"""A one-line progress report on stderr (sessions, messages, and how far through the input), at most 5 a second."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_INTERVAL_SECONDS = 0.2


class Progress:
    """Shown only when `enabled` (the command's --progress, or stderr is a terminal)."""

    def __init__(self, label: str, *, enabled: bool, total_bytes: int | None = None, out: TextIO | None = None):
        self.label = label
        self.enabled = enabled
        self.total_bytes = total_bytes
        self.out = out or sys.stderr
        self._last = 0.0
        self.bytes_done = 0

    def show(self, sessions: int, messages: int) -> None:
        now = time.monotonic()
        if self.enabled and now - self._last >= _INTERVAL_SECONDS:
            self._last = now
            self.out.write(f"\r{self._text(sessions, messages)}")
            self.out.flush()

    def done(self, sessions: int, messages: int) -> None:
        if self.enabled:
            self.out.write(f"\r{self._text(sessions, messages)}\n")
            self.out.flush()

    def _text(self, sessions: int, messages: int) -> str:
        text = f"chat-memory {self.label}: {sessions:,} sessions, {messages:,} messages"
        if self.total_bytes:
            text += f" ({min(100, 100 * self.bytes_done // self.total_bytes)}%)"
        return text
