"""`chat-memory serve` as a child process on a free loopback port: what `chat-memory load` and `chat-memory fuzz`
run against when they are not given a URL."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from chat_memory_dev.server import API_KEY_ENV

SERVE_STARTUP_S: Final = 90.0
_SERVING = re.compile(r"^chat-memory serving (http://\S+) ", re.MULTILINE)


class ServeError(RuntimeError):
    """`chat-memory serve` did not start (the message holds what it printed)."""


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere or when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14 and 15)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


@dataclass(frozen=True)
class LocalServe:
    url: str
    pid: int

    def cpu_seconds(self) -> dict[str, float | None]:
        """CPU used so far by the server process (HTTP, embedded DynamoDB) and by its handler worker processes."""
        workers = [_cpu_seconds(child) for child in _children(self.pid)]
        server = _cpu_seconds(self.pid)
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
    command = [sys.executable, "-m", "chat_memory_dev.cli", "serve", "--host", "127.0.0.1", "--port", "0"]
    command += ["--table", table]
    if workers is not None:
        command += ["--workers", str(workers)]
    env = dict(os.environ, PYTHONUNBUFFERED="1", **{API_KEY_ENV: api_key})
    with open(log, "w+b") if log is not None else tempfile.TemporaryFile() as output:
        # our own interpreter and our own code
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603

        def printed() -> str:
            output.seek(0)
            return output.read().decode("utf-8", "replace")

        try:
            deadline = time.monotonic() + timeout_s
            while (match := _SERVING.search(printed())) is None:
                if process.poll() is not None:
                    raise ServeError(f"chat-memory serve exited with {process.returncode}:\n{printed()[-4000:]}")
                if time.monotonic() > deadline:
                    raise ServeError(f"chat-memory serve not ready after {timeout_s:.0f} s:\n{printed()[-4000:]}")
                time.sleep(0.1)
            yield LocalServe(match.group(1), process.pid)
        finally:
            process.terminate()  # SIGTERM: serve shuts down like Ctrl-C
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
