"""`chat-memory serve` keeps what it stored in its data folder: a restart finds it again (after a stop by SIGTERM,
and after a kill -9), the printed API key keeps working, and a folder it cannot use is refused with a message."""

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from chat_memory_dev.local.child import SERVING, children_of, serve_subprocess
from chat_memory_dev.localdb.persistence import FORMAT_FILE, SNAPSHOT_FILE
from chat_memory_dev.template import REPO_ROOT
from tests.serve_process import still_alive

KEY_LINE = re.compile(r"^API key for tenant default: (cm_[A-Za-z0-9_-]{43})$", re.MULTILINE)
DATA_LINE = re.compile(r"^Data: kept in .* \(([\d,]+) items in \d+ tables at start, ([\d,]+) journaled calls", re.M)
WAIT_S = 60.0  # a bound for the background summariser, not a speed requirement


def _env() -> dict[str, str]:
    given = ("AWS_ENDPOINT_URL_DYNAMODB", "CHAT_MEMORY_API_KEY", "PAGE_TOKEN_KEY")
    env = {k: v for k, v in os.environ.items() if k not in given}
    env.update({"PYTHONUNBUFFERED": "1", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
    return env


@contextmanager
def _serving(data: Path) -> Iterator[tuple[httpx.Client, Any, Callable[[], str]]]:
    args = ["--host", "127.0.0.1", "--port", "0", "--workers", "2", "--data-dir", str(data)]
    started = serve_subprocess(
        args, _env(), lambda out: SERVING.search(out) is not None and KEY_LINE.search(out) is not None
    )
    with started as (process, printed):
        serving, key = SERVING.search(printed()), KEY_LINE.search(printed())
        assert serving is not None and key is not None
        headers = {"Authorization": f"Bearer {key.group(1)}"}
        with httpx.Client(base_url=serving.group(1), headers=headers, timeout=30, trust_env=False) as client:
            yield client, process, printed


def _fill(client: httpx.Client) -> None:
    assert client.post("/api/v2/users", json={"user_id": "jane", "email": "jane@example.com"}).status_code == 201
    created = client.post("/api/v2/sessions", json={"session_id": "s1", "user_id": "jane", "metadata": {"a": 1}})
    assert created.status_code == 201
    for turn in range(15):  # 30 messages: more than the window, so the summariser folds the older ones
        messages = [
            {"role": "Jane", "role_type": "user", "content": f"question {turn} about Octavia Butler"},
            {"role": "Bot", "role_type": "assistant", "content": f"answer {turn}: Kindred was published in 1979."},
        ]
        assert client.post("/api/v2/sessions/s1/memory", json={"messages": messages}).status_code == 201
    assert client.post("/api/v2/sessions/gone/memory", json={"messages": messages}).status_code == 201
    assert client.delete("/api/v2/sessions/gone/memory").status_code == 200


def _summarised(client: httpx.Client) -> dict[str, Any]:
    deadline = time.monotonic() + WAIT_S
    while True:
        memory: dict[str, Any] = client.get("/api/v2/sessions/s1/memory", params={"memoryType": "perpetual"}).json()
        if memory["summary"] is not None or time.monotonic() > deadline:
            return memory
        time.sleep(0.2)


def _everything(client: httpx.Client) -> dict[str, Any]:
    return {
        "user": client.get("/api/v2/users/jane").json(),
        "session": client.get("/api/v2/sessions/s1").json(),
        "messages": client.get("/api/v2/sessions/s1/messages", params={"limit": 100}).json(),
        "memory": client.get("/api/v2/sessions/s1/memory", params={"memoryType": "perpetual"}).json(),
        "user_sessions": client.get("/api/v2/users/jane/sessions").json(),
        "deleted": client.get("/api/v2/sessions/gone").status_code,
    }


def test_a_stopped_server_finds_everything_again_and_its_key_keeps_working(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _serving(data) as (client, _, printed):
        _fill(client)
        assert _summarised(client)["summary"] is not None, "the summariser ran"
        before = _everything(client)
        first_key = KEY_LINE.search(printed())
        token = client.get("/api/v2/sessions/s1/messages", params={"limit": 10}).headers["X-Next-Page-Token"]
        next_page = client.get("/api/v2/sessions/s1/messages", params={"limit": 10, "page_token": token}).json()
    assert (data / SNAPSHOT_FILE).exists(), "a clean stop writes a snapshot"
    assert [p.stat().st_size for p in data.glob("journal-*.jsonl")] == [0], "and starts an empty journal"
    with _serving(data) as (client, _, printed):
        again = KEY_LINE.search(printed())
        assert first_key is not None and again is not None and again.group(1) == first_key.group(1)
        after = _everything(client)
        again_page = client.get("/api/v2/sessions/s1/messages", params={"limit": 10, "page_token": token})
        assert again_page.status_code == 200 and again_page.json() == next_page, "page tokens outlive a restart"
        assert (data / "page-token-key").stat().st_mode & 0o077 == 0
        loaded = DATA_LINE.search(printed())
        assert loaded is not None and int(loaded.group(1).replace(",", "")) > 30
    # The summariser may still have been catching up when `before` was read (a clean stop lets it finish): the
    # summary may have moved on, covering more of the same messages, never fewer.
    before_memory, after_memory = before.pop("memory"), after.pop("memory")
    assert after == before, "sessions, messages, users, deletions: all there"
    assert after_memory["summary"] is not None
    assert after_memory["summary"]["created_at"] >= before_memory["summary"]["created_at"]
    kept = after_memory["messages"]
    assert kept == before_memory["messages"][len(before_memory["messages"]) - len(kept) :], "the same newest messages"


def test_a_killed_server_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _serving(data) as (client, process, _):
        _fill(client)
        acknowledged = _everything(client)
        workers = children_of(process.pid)
        os.kill(process.pid, signal.SIGKILL)  # no clean-up at all: only what reached the journal counts
        process.wait()
    assert still_alive(workers) == [], "the workers leave with their server"
    assert not (data / SNAPSHOT_FILE).exists()
    with _serving(data) as (client, _, printed):
        loaded = DATA_LINE.search(printed())
        assert loaded is not None and int(loaded.group(2).replace(",", "")) > 20, "the journal was replayed"
        found = _everything(client)
        # The summariser may have written a summary after the last read: everything else is as acknowledged.
        for part in ("user", "session", "messages", "user_sessions", "deleted"):
            assert found[part] == acknowledged[part], part
        assert found["memory"]["messages"][-1] == acknowledged["memory"]["messages"][-1]


def _serve_fails(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chat_memory_dev.cli", "serve", "--port", "0", *args],
        cwd=REPO_ROOT,
        env=dict(_env(), **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_folder_written_by_another_version_is_refused_with_a_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / FORMAT_FILE).write_text('{"format": 2, "written_by": "chat-memory 9.9"}\n')
    result = _serve_fails(["--data-dir", str(data)])
    assert result.returncode == 2
    assert "written in format 2 by another version of chat-memory" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_two_servers_cannot_share_a_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with _serving(data):
        result = _serve_fails(["--data-dir", str(data)])
    assert result.returncode == 2
    assert "is in use by another chat-memory serve" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_a_data_folder_is_refused_when_the_data_lives_in_another_dynamodb(tmp_path: Path) -> None:
    result = _serve_fails(["--data-dir", str(tmp_path)], AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:9")
    assert result.returncode == 2
    assert "AWS_ENDPOINT_URL_DYNAMODB is set: the data lives in that DynamoDB" in result.stderr
