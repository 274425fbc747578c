"""`chat-memory serve` as a subprocess, for the tests that talk to it over real HTTP."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def serve_process(
    args: Sequence[str], env: dict[str, str], ready: Callable[[str], bool], timeout_s: float = 60.0
) -> Iterator[Callable[[], str]]:
    """Run `chat-memory serve ARGS` until `ready(printed so far)`; yield a function returning what it printed.

    Fails the test with the server's output when it exits or is not ready in time; terminates it afterwards.
    """
    command = [sys.executable, "-m", "chat_memory_dev.cli", "serve", *args]
    with tempfile.TemporaryFile() as output:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)

        def printed() -> str:
            output.seek(0)
            return output.read().decode("utf-8", "replace")

        try:
            deadline = time.monotonic() + timeout_s
            while not ready(printed()):
                if process.poll() is not None:
                    pytest.fail(f"chat-memory serve exited with {process.returncode}:\n{printed()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"chat-memory serve not ready after {timeout_s:.0f}s:\n{printed()}")
                time.sleep(0.1)
            yield printed
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# --- processes (Linux /proc), to check that nothing outlives a server --------------------------------------------


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def children_of(pid: int) -> list[int]:
    """The pids of the processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry))
    return found


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


def still_alive(pids: Sequence[int], within_s: float = 10.0) -> list[int]:
    """The pids still alive after waiting up to `within_s` for them to exit (a bound, not a speed requirement)."""
    deadline = time.monotonic() + within_s
    while any(process_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if process_alive(p)]
