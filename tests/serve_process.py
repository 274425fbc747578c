"""`chat-memory serve` as a subprocess, for the tests that talk to it over real HTTP."""

import contextlib
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
