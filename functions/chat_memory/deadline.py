"""The time the current invocation may still spend: set at the edge, read by the adapters that wait or retry.

The edge derives it from the Lambda context (`within`), so a request that cannot finish in time answers 503
with Retry-After while it still can, instead of being cut off by the function's timeout. Use cases never see it:
the store's retries consult it. Without a deadline (tools, tests, the purger) there is no limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

# time.monotonic() by which the current invocation must be done waiting on the store.
_deadline: ContextVar[float | None] = ContextVar("deadline", default=None)


class DeadlineExceeded(Exception):  # noqa: N818 - the name says what happened
    """An attempt was refused because the invocation has no time left for it."""


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Run the block with `seconds` to spend (never extending an outer deadline)."""
    end = time.monotonic() + max(0.0, seconds)
    outer = _deadline.get()
    token = _deadline.set(end if outer is None else min(outer, end))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float:
    """Seconds left before the deadline (math.inf without one)."""
    end = _deadline.get()
    return math.inf if end is None else end - time.monotonic()


def allows(seconds: float) -> bool:
    """True when `seconds` more still fit before the deadline."""
    return remaining() >= seconds
