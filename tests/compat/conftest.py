"""`chat-memory serve` as a subprocess with its embedded DynamoDB, for the real zep-python client over HTTP."""

import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from zep_python import ZepClient

from tests.serve_process import serve_process

STARTUP_TIMEOUT_S = 60.0
# The summary is written by the server's stream consumer a moment after the write: a test polls for that event.
# The bound only tells "never" from "later" (a busy machine may take many seconds); it is not a speed target.
SUMMARY_WAIT_S = 300.0
# The key `chat-memory serve` accepts for the `default` tenant (CHAT_MEMORY_API_KEY).
API_KEY = "cm_compat-suite-key-9f2c4d1e8b7a6f5e4d3c2b1a0f9e8d7c"
TABLE = "chat-memory-compat"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture(scope="session")
def base_url() -> Iterator[str]:
    """The API root of a fresh `chat-memory serve` (embedded moto); stopped at the end of the session."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # embedded moto, never a configured endpoint
    env["PYTHONUNBUFFERED"] = "1"
    env["CHAT_MEMORY_API_KEY"] = API_KEY
    # The client's httpx honours proxy variables: keep loopback calls direct.
    env["NO_PROXY"] = env["no_proxy"] = ",".join(filter(None, ["127.0.0.1,localhost", env.get("NO_PROXY")]))
    args = ["--host", "127.0.0.1", "--port", str(port), "--table", TABLE]
    with serve_process(args, env, lambda _: _healthy(url), STARTUP_TIMEOUT_S):
        previous = {name: os.environ.get(name) for name in ("NO_PROXY", "no_proxy")}
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = env["NO_PROXY"]
        try:
            yield url
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@pytest.fixture
def client(base_url: str) -> Iterator[ZepClient]:
    """A sync zep-python client on the shared server."""
    zep = ZepClient(api_url=base_url, api_key=API_KEY)
    yield zep
    zep.close()


@pytest.fixture
async def aclient(base_url: str) -> AsyncIterator[ZepClient]:
    """An async zep-python client on the shared server, used as an async context manager."""
    async with ZepClient(api_url=base_url, api_key=API_KEY) as zep:
        yield zep
    zep.close()


def wait_for_summary(client: ZepClient, session_id: str) -> Any:
    """The session's perpetual memory once its summary exists (polled: the summariser runs in the background)."""
    deadline = time.monotonic() + SUMMARY_WAIT_S
    while time.monotonic() < deadline:
        memory = client.memory.get_memory(session_id, memory_type="perpetual")
        if memory.summary is not None:
            return memory
        time.sleep(0.25)
    raise AssertionError(f"no summary after {SUMMARY_WAIT_S:.0f} s: the summariser never ran")
