"""Independent DynamoDB calls of one request, made at once: reads that do not wait for each other's answers cost
one round trip together instead of one each (a search's first reads, its term buckets).

Each call runs on a small thread pool, in a copy of the caller's context: the invocation's deadline (deadline.py)
and the consumed-capacity tally (consumed.py) follow it. botocore's clients are thread-safe. A call must not start
calls of its own here (the pool could be used up by callers waiting on it).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

T = TypeVar("T")

# The widest step: six term buckets and the blocks' timestamps, or the window, the rest of the newest messages,
# the index head and the change markers.
MAX_CALLS: Final = 8


@cache
def _pool() -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # on the path that needs it: not at cold start

    return ThreadPoolExecutor(max_workers=MAX_CALLS, thread_name_prefix="dynamodb")


class AtOnce:
    """Calls started together; leaving the block waits for every one of them (also when one failed), and each
    answer is its Future's result (which raises what the call raised)."""

    def __init__(self) -> None:
        self._started: list[Future[Any]] = []

    def start(self, call: Callable[[], T]) -> Future[T]:
        future = _pool().submit(contextvars.copy_context().run, call)
        self._started.append(future)
        return future

    def __enter__(self) -> AtOnce:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        from concurrent.futures import wait

        wait(self._started)
