"""`chat-memory serve`'s API key: CHAT_MEMORY_API_KEY stored for the `default` tenant, else one created and printed
once; the template's authorizer guards the local routes; `chat-memory keys` works against the local table."""

import contextlib
import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest

from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore
from chat_memory_dev.local.child import SERVING
from chat_memory_dev.local.server import API_KEY_ENV, LocalSetupError, local_api_key
from chat_memory_dev.localdb.dynamodb import ENDPOINT_ENV, EmbeddedDynamoDB, create_table_from_template
from tests.serve_process import serve_process

TABLE = "local-keys"
CREATED = re.compile(r"^API key for tenant default: (cm_[A-Za-z0-9_-]{43})$", re.MULTILINE)
EMBEDDED = re.compile(r"\(DynamoDB: embedded moto at (http://127\.0\.0\.1:\d+),")
STARTUP_TIMEOUT_S = 60.0


@pytest.fixture
def local_table() -> Iterator[tuple[str, Any, str]]:
    """(endpoint, client, table): a fresh table (moto's state is shared by every embedded server of a process)."""
    table = f"{TABLE}-{uuid.uuid4().hex[:8]}"
    with EmbeddedDynamoDB() as db:
        client = boto3.client("dynamodb", endpoint_url=db.endpoint_url, region_name="us-east-1")
        create_table_from_template(client, table)
        yield db.endpoint_url, client, table


def test_without_the_variable_a_key_is_created_and_shown_once(
    local_table: tuple[str, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, client, table = local_table
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    line = local_api_key(table, endpoint)
    match = CREATED.match(line)
    assert match is not None, line
    info = ApiKeyStore(table, client=client).lookup(match.group(1))
    assert info is not None
    assert (info.tenant, info.name, info.revoked) == ("default", "local", False)
    second = CREATED.match(local_api_key(table, endpoint))  # every start without the variable: a new key
    assert second is not None and second.group(1) != match.group(1)


def test_the_variables_key_is_stored_for_the_default_tenant_and_not_printed(
    local_table: tuple[str, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, client, table = local_table
    key = "cm_" + "k" * 43
    monkeypatch.setenv(API_KEY_ENV, key)
    assert local_api_key(table, endpoint) == f"API key: (from {API_KEY_ENV})"
    assert local_api_key(table, endpoint) == f"API key: (from {API_KEY_ENV})"  # idempotent (a restart)
    store = ApiKeyStore(table, client=client)
    info = store.lookup(key)
    assert info is not None and info.tenant == "default"
    assert [k.key_id for k in store.list_keys()] == [info.key_id]

    store.revoke(info.key_id)
    with pytest.raises(LocalSetupError, match=API_KEY_ENV):  # a revoked key is not brought back
        local_api_key(table, endpoint)


def test_keys_cli_against_a_local_table(
    local_table: tuple[str, Any, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chat_memory_dev import cli

    endpoint, client, table = local_table
    monkeypatch.setenv(ENDPOINT_ENV, endpoint)  # botocore honours it
    assert cli.main(["keys", "create", "--tenant", "t1", "--name", "laptop", "--table", table]) == 0
    out = capsys.readouterr().out
    key = out.split(": ", 1)[1].split()[0]
    info = ApiKeyStore(table, client=client).lookup(key)
    assert info is not None and info.tenant == "t1"


# --- chat-memory serve as a subprocess ---------------------------------------------------------------------


@contextlib.contextmanager
def _serve(env: dict[str, str]) -> Iterator[tuple[str, str]]:
    """Start `chat-memory serve` on a free port; yield (base URL, everything it printed so far)."""

    def ready(printed: str) -> bool:
        return SERVING.search(printed) is not None and "API key" in printed

    args = ["--host", "127.0.0.1", "--port", "0", "--table", TABLE, "--no-stream-consumers"]
    with serve_process(args, env, ready, STARTUP_TIMEOUT_S) as printed:
        serving = SERVING.search(printed())
        assert serving is not None
        yield serving.group(1), printed()


def _server_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (ENDPOINT_ENV, API_KEY_ENV)}  # embedded moto
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return {**env, **extra}


def _get(url: str, key: str | None = None, scheme: str = "Bearer") -> httpx.Response:
    headers = {"Authorization": f"{scheme} {key}"} if key is not None else {}
    return httpx.get(url, headers=headers, timeout=10, trust_env=False)


def test_serve_prints_a_new_key_once_and_the_authorizer_guards_every_route_but_healthz() -> None:
    with _serve(_server_env()) as (url, printed):
        keys = CREATED.findall(printed)
        assert len(keys) == 1, printed
        [key] = keys
        assert printed.count(key) == 1  # shown once
        assert _get(f"{url}/healthz").status_code == 200  # public
        response = _get(f"{url}/api/v2/sessions")
        assert (response.status_code, response.json()) == (401, {"message": "Unauthorized"})  # API Gateway's
        assert _get(f"{url}/api/v2/sessions", "cm_" + "x" * 43).status_code == 401  # the function's
        assert _get(f"{url}/api/v2/sessions", key).status_code == 200
        assert _get(f"{url}/api/v2/sessions", key, scheme="Api-Key").status_code == 200


def test_keys_created_with_the_cli_work_on_the_running_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from chat_memory_dev import cli

    with _serve(_server_env()) as (url, printed):
        endpoint = EMBEDDED.search(printed)
        assert endpoint is not None, printed
        monkeypatch.setenv(ENDPOINT_ENV, endpoint.group(1))  # the printed endpoint reaches the server's table
        assert cli.main(["keys", "create", "--tenant", "other", "--name", "cli", "--table", TABLE]) == 0
        key = capsys.readouterr().out.split(": ", 1)[1].split()[0]
        assert _get(f"{url}/api/v2/sessions", key).status_code == 200
        assert cli.main(["keys", "list", "--table", TABLE]) == 0
        listed = capsys.readouterr().out
        assert " other " in listed and " default " in listed


def test_serve_accepts_the_key_from_the_environment() -> None:
    key = "cm_" + "e" * 43
    with _serve(_server_env(**{API_KEY_ENV: key})) as (url, printed):
        assert f"API key: (from {API_KEY_ENV})" in printed
        assert key not in printed
        assert _get(f"{url}/api/v2/sessions", key).status_code == 200
