"""Hostile input over real HTTP against `chat-memory serve`: schemathesis from the OpenAPI document (a bounded run;
`make fuzz` runs longer), and the inputs a generator from the document would rarely or never send."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from chat_memory_dev.local.child import SERVING
from chat_memory_dev.local.server import API_KEY_ENV
from chat_memory_dev.template import api_operations
from tests.serve_process import REPO_ROOT, serve_process

API_KEY = "cm_" + "f" * 43
AUTH = {"Authorization": f"Bearer {API_KEY}"}
JSON = {"Content-Type": "application/json", **AUTH}


def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chat_memory_dev.cli", "fuzz", "--quick", "--seed", "20261126"],
        cwd=REPO_ROOT,
        env=dict(os.environ, NO_COLOR="1"),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    # Not vacuous: every operation of the template was exercised, with generated cases that passed.
    operations = api_operations()  # not $default, nor the console's page and files
    assert f"Tested: {len(operations)}" in output, output[-3000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", output)
    assert generated is not None and int(generated.group(2)) > 100, output[-3000:]


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    env = dict(os.environ, **{API_KEY_ENV: API_KEY})
    args = ["--host", "127.0.0.1", "--port", "0", "--no-stream-consumers"]
    with serve_process(args, env, lambda out: SERVING.search(out) is not None) as printed:
        match = SERVING.search(printed())
        assert match is not None
        yield match.group(1)


def _post_raw(base_url: str, path: str, body: bytes) -> httpx.Response:
    return httpx.post(f"{base_url}{path}", content=body, headers=JSON, timeout=30)


def _refused(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["message"]
    assert words in message, message


HOSTILE_BODIES: list[tuple[str, bytes, str]] = [
    ("not UTF-8", b'{"messages": [{"content": "\xff\xfe"}]}', "UTF-8"),
    ("Latin-1 text", '{"messages": [{"content": "café"}]}'.encode("latin-1"), "UTF-8"),
    ("nested past the parser", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("metadata nested past the limit", b'{"messages": [{"content": "x", "metadata": ' + b'{"a": ' * 40 + b"1"
     + b"}" * 40 + b"}]}", "nested deeper"),
    ("an integer of 5000 digits", b'{"messages": [{"content": "x", "metadata": {"n": 1' + b"0" * 5000 + b"}}]}",
     "digits"),
    ("an infinite float", b'{"messages": [{"content": "x", "metadata": {"f": 1e999}}]}', "finite"),
    ("NUL in content", b'{"messages": [{"content": "a\\u0000b"}]}', "NUL"),
    ("a lone surrogate in content", b'{"messages": [{"content": "\\ud800"}]}', "lone surrogate"),
    ("a lone surrogate in a metadata key", b'{"messages": [{"content": "x", "metadata": {"\\udc00": 1}}]}',
     "lone surrogate"),
    ("a bare NUL byte", b"\x00", "not valid JSON"),
    ("an empty object", b"{}", "at least one message"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "words"), [c[1:] for c in HOSTILE_BODIES], ids=[c[0] for c in HOSTILE_BODIES])
def test_hostile_bodies_are_400_and_store_nothing(base_url: str, body: bytes, words: str) -> None:
    session = f"hostile-{abs(hash(body)) % 10**8}"
    _refused(_post_raw(base_url, f"/api/v2/sessions/{session}/memory", body), 400, words)
    assert httpx.get(f"{base_url}/api/v2/sessions/{session}", headers=AUTH, timeout=30).status_code == 404


ODD_PATHS: list[tuple[str, str, int]] = [
    ("invalid UTF-8", "%FF", 400),  # decoded with replacement characters: refused, or %FF and %FE would be one id
    ("an overlong encoding", "%C0%AF", 400),
    ("NUL", "%00", 400),
    ("a control character", "a%0Ab", 400),
    ("an encoded slash", "a%2Fb", 404),  # decoded before routing, as API Gateway does: no such route
    ("an encoded question mark", "a%3Fb", 400),
    ("dot dot", "%2E%2E", 400),  # clients drop such segments: refused as an id
    ("257 characters", "x" * 257, 400),
]


@pytest.mark.parametrize(("segment", "status"), [c[1:] for c in ODD_PATHS], ids=[c[0] for c in ODD_PATHS])
def test_odd_path_ids_are_4xx_json_on_every_session_route(base_url: str, segment: str, status: int) -> None:
    for method, suffix in (("GET", ""), ("GET", "/memory"), ("GET", "/messages"), ("DELETE", "/memory")):
        response = httpx.request(method, f"{base_url}/api/v2/sessions/{segment}{suffix}", headers=AUTH, timeout=30)
        assert response.status_code == status, (method, suffix, response.text)
        assert response.json()["message"]


@pytest.mark.parametrize(
    ("segment", "stored_as"),
    [("emoji-%F0%9F%98%80", "emoji-😀"), ("a+b", "a b"), ("100%25", "100%"), ("x" * 256, "x" * 256)],
    ids=["emoji", "plus is a space", "percent", "256 characters"],
)
def test_odd_but_valid_ids_round_trip(base_url: str, segment: str, stored_as: str) -> None:
    path = f"{base_url}/api/v2/sessions/{segment}/memory"
    added = httpx.post(path, json={"messages": [{"content": "hi"}]}, headers=AUTH, timeout=30)
    assert added.status_code == 201, added.text
    assert added.json()["session_id"] == stored_as
    memory = httpx.get(path, headers=AUTH, timeout=30)
    assert [m["content"] for m in memory.json()["messages"]] == ["hi"]


def test_big_and_odd_json_values_are_stored_exactly(base_url: str) -> None:
    metadata: dict[str, Any] = {
        "big": 10**400,
        "max_float": 1.7976931348623157e308,
        "tiny": 5e-324,
        "negative_zero": -0.0,
        "astral": "😀𝄞",
        "deep": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": {"k": {"l": {"m": {"n": 1}}}}}}}}}}}}}},
    }
    body = json.dumps({"messages": [{"content": "values", "metadata": metadata}]}).encode()
    added = _post_raw(base_url, "/api/v2/sessions/values/memory", body)
    assert added.status_code == 201, added.text
    memory = httpx.get(f"{base_url}/api/v2/sessions/values/memory", headers=AUTH, timeout=30)
    assert memory.json()["messages"][0]["metadata"] == metadata
