"""`chat-memory serve` as a subprocess, for the tests that talk to it over real HTTP."""

import contextlib
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from chat_memory_dev.local.child import ServeError, children_of, process_alive, serve_subprocess

REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = ["REPO_ROOT", "children_of", "process_alive", "serve_pid", "serve_process", "still_alive"]


@contextlib.contextmanager
def serve_process(
    args: Sequence[str], env: Mapping[str, str], ready: Callable[[str], bool], timeout_s: float = 60.0
) -> Iterator[Callable[[], str]]:
    """Run `chat-memory serve ARGS` until `ready(printed so far)`; yield a function returning what it printed.

    Fails the test with the server's output when it exits or is not ready in time; terminates it afterwards.
    """
    with contextlib.ExitStack() as stack:
        try:
            _, printed = stack.enter_context(serve_subprocess(args, env, ready, timeout_s))
        except ServeError as exc:
            pytest.fail(str(exc))
        yield printed


def serve_pid(marker: str) -> int:
    """The pid of the running `chat-memory serve` whose command line contains `marker` (e.g. its table name)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, ProcessLookupError):
            continue
        if b"serve" in argv and marker.encode() in argv:
            return int(entry)
    raise LookupError(f"no chat-memory serve with {marker!r} in its command line")


def still_alive(pids: Sequence[int], within_s: float = 60.0) -> list[int]:
    """The pids still alive after waiting up to `within_s` for them to exit (a bound, not a speed requirement)."""
    deadline = time.monotonic() + within_s
    while any(process_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if process_alive(p)]
