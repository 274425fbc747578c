"""`chat-memory serve` as a child process: what `chat-memory load` and `chat-memory fuzz` run against when they are
not given a URL, and what the tests that talk to it over real HTTP start (tests/serve_process.py)."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from chat_memory_dev.local.server import API_KEY_ENV
from chat_memory_dev.template import REPO_ROOT

SERVE_STARTUP_S: Final = 90.0
STOP_TIMEOUT_S: Final = 45.0  # a stop answers the requests in flight and lets the stream consumers catch up
# The start-up line: its first group is the server's URL.
SERVING: Final = re.compile(r"^chat-memory serving (http://\S+) ", re.MULTILINE)


class ServeError(RuntimeError):
    """`chat-memory serve` did not start (the message holds what it printed)."""


@contextlib.contextmanager
def serve_subprocess(
    args: Sequence[str],
    env: Mapping[str, str],
    ready: Callable[[str], bool],
    timeout_s: float = SERVE_STARTUP_S,
    output: IO[bytes] | None = None,
) -> Iterator[tuple[subprocess.Popen[bytes], Callable[[], str]]]:
    """Run `chat-memory serve ARGS` until `ready(what it printed so far)`; yield the process and a function returning
    what it printed (kept in `output`, else a temporary file). Raises ServeError when it exits or is not ready in
    time; terminates it (SIGTERM: it shuts down like Ctrl-C) when the block ends. Unless ARGS choose where the data
    goes (--data-dir, --in-memory), it is a fresh data folder, removed afterwards."""
    with contextlib.ExitStack() as stack:
        if not {"--data-dir", "--in-memory"} & set(args) and not env.get("AWS_ENDPOINT_URL_DYNAMODB"):
            args = [*args, "--data-dir", stack.enter_context(tempfile.TemporaryDirectory(prefix="chat-memory-data-"))]
        command = [sys.executable, "-m", "chat_memory_dev.cli", "serve", *args]
        sink = output if output is not None else stack.enter_context(tempfile.TemporaryFile())
        # our own interpreter and our own code
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=dict(env), stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603

        def printed() -> str:
            sink.seek(0)
            return sink.read().decode("utf-8", "replace")

        try:
            deadline = time.monotonic() + timeout_s
            while not ready(printed()):
                if process.poll() is not None:
                    raise ServeError(f"chat-memory serve exited with {process.returncode}:\n{printed()[-4000:]}")
                if time.monotonic() > deadline:
                    raise ServeError(f"chat-memory serve not ready after {timeout_s:.0f} s:\n{printed()[-4000:]}")
                time.sleep(0.1)
            yield process, printed
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- processes (Linux /proc) ---------------------------------------------------------------------------------------


def _stat_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state first); None when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != "Z"


def children_of(pid: int) -> list[int]:
    """The pids of the processes whose parent is `pid`."""
    return [
        int(entry)
        for entry in os.listdir("/proc")
        if entry.isdigit() and (fields := _stat_fields(entry)) is not None and int(fields[1]) == pid
    ]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (None when it is gone)."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14 and 15)


# -- for the load and fuzz runners ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalServe:
    url: str
    pid: int

    def cpu_seconds(self) -> dict[str, float | None]:
        """CPU used so far by the server process (HTTP, embedded DynamoDB) and by its handler worker processes."""
        workers = [cpu_seconds(child) for child in children_of(self.pid)]
        server = cpu_seconds(self.pid)
        return {
            "server": None if server is None else round(server, 2),
            "workers": round(sum(w for w in workers if w is not None), 2) if workers else None,
        }


@contextlib.contextmanager
def local_serve(
    api_key: str,
    table: str,
    *,
    workers: int | None = None,
    log: Path | None = None,
    timeout_s: float = SERVE_STARTUP_S,
) -> Iterator[LocalServe]:
    """`chat-memory serve` on a free loopback port with `api_key` for the `default` tenant, until the block ends.

    What it prints (start-up, one access line per request, handler failures and timeouts) goes to `log`."""
    args = ["--host", "127.0.0.1", "--port", "0", "--table", table]
    if workers is not None:
        args += ["--workers", str(workers)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{API_KEY_ENV: api_key})
    with contextlib.ExitStack() as stack:
        output = stack.enter_context(open(log, "w+b")) if log is not None else None
        process, printed = stack.enter_context(
            serve_subprocess(args, env, lambda out: SERVING.search(out) is not None, timeout_s, output)
        )
        match = SERVING.search(printed())
        assert match is not None
        yield LocalServe(match.group(1), process.pid)
