"""The worker pool of `chat-memory serve --workers N`: handlers in spawned processes, one invocation each at a time.

Stand-in handlers live in tests/unit/dev/pool_handlers.py, imported by name inside the workers. No AWS.
"""

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from chat_memory_dev.local.server import HttpRequest, LocalApi
from chat_memory_dev.local.workers import (
    HandlerError,
    InvocationTimeoutError,
    PoolClosedError,
    WorkerCrashedError,
    WorkerPool,
)
from chat_memory_dev.template import HttpRoute, LambdaAuthorizer
from tests.serve_process import REPO_ROOT, process_alive, still_alive

HANDLERS = "tests.unit.dev.pool_handlers"
TIMEOUT_MS = 30_000


def _invoke(pool: WorkerPool, name: str, event: Any = None, timeout_ms: int = TIMEOUT_MS) -> Any:
    return pool.invoke(f"{HANDLERS}.{name}", "TestFunction", event if event is not None else {}, "req-1", timeout_ms)


@pytest.fixture
def pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerPool]:
    monkeypatch.setenv("CHAT_MEMORY_POOL_TEST", "from the server")  # before start(): the workers inherit it
    with WorkerPool(3, reply_grace_s=0.5) as started:
        yield started
        pids = started.pids
    assert still_alive(pids) == []  # close() leaves no process behind


def test_a_handler_runs_in_a_worker_process_with_a_lambda_context_and_the_servers_environment(
    pool: WorkerPool,
) -> None:
    result = _invoke(pool, "echo", {"n": 1, "nested": {"list": [1, "two", None]}})
    assert result["event"] == {"n": 1, "nested": {"list": [1, "two", None]}}
    assert result["pid"] in pool.pids and result["pid"] != os.getpid()
    assert (result["function"], result["request_id"]) == ("TestFunction", "req-1")
    assert result["env"] == "from the server"


def test_a_sequential_client_keeps_reusing_the_warm_worker(pool: WorkerPool) -> None:
    results = [_invoke(pool, "echo") for _ in range(4)]
    assert {r["pid"] for r in results} == {results[0]["pid"]}
    assert [r["warm_invocations"] for r in results] == [1, 2, 3, 4]  # imported once, kept warm


def test_concurrent_invocations_run_at_once_each_in_its_own_worker(pool: WorkerPool, tmp_path: Path) -> None:
    event = {"directory": str(tmp_path), "count": pool.size, "wait_s": 20}
    with ThreadPoolExecutor(max_workers=pool.size) as threads:
        pids = list(threads.map(lambda _: _invoke(pool, "rendezvous", event), range(pool.size)))
    assert sorted(pids) == sorted(pool.pids)  # every worker served one, all at the same time


def test_more_requests_than_workers_wait_for_a_free_one(pool: WorkerPool) -> None:
    with ThreadPoolExecutor(max_workers=pool.size * 3) as threads:
        results = list(threads.map(lambda n: _invoke(pool, "echo", {"n": n}), range(pool.size * 6)))
    assert [r["event"]["n"] for r in results] == list(range(pool.size * 6))
    assert {r["pid"] for r in results} <= set(pool.pids)
    assert pool.invocations == pool.size * 6


def test_a_handlers_exception_comes_back_with_its_traceback_and_the_worker_stays_warm(pool: WorkerPool) -> None:
    before = _invoke(pool, "echo")["pid"]
    with pytest.raises(HandlerError, match="ValueError: failed on purpose") as raised:
        _invoke(pool, "fail")
    assert "pool_handlers.py" in str(raised.value)  # the worker's traceback
    assert _invoke(pool, "echo")["pid"] == before
    assert pool.replaced == 0


def test_a_result_that_is_not_plain_data_is_an_error_not_a_broken_worker(pool: WorkerPool) -> None:
    with pytest.raises(HandlerError, match="unpicklable result"):
        _invoke(pool, "unpicklable")
    assert _invoke(pool, "echo")["warm_invocations"] >= 1
    assert pool.replaced == 0


def test_a_crashed_worker_is_replaced_and_the_pool_keeps_serving(pool: WorkerPool) -> None:
    before = set(pool.pids)
    with pytest.raises(WorkerCrashedError, match="exit code 3"):
        _invoke(pool, "crash")
    after = set(pool.pids)
    assert len(after) == pool.size and pool.replaced == 1
    [dead] = before - after
    assert not process_alive(dead)
    results = [_invoke(pool, "echo") for _ in range(2)]
    assert all(r["pid"] in after for r in results)


def test_an_invocation_past_its_timeout_is_killed_and_its_worker_replaced(pool: WorkerPool) -> None:
    before = set(pool.pids)
    with pytest.raises(InvocationTimeoutError):
        _invoke(pool, "sleep", {"seconds": 60}, timeout_ms=100)
    [dead] = before - set(pool.pids)
    assert not process_alive(dead) and pool.replaced == 1
    assert _invoke(pool, "echo")["pid"] in pool.pids


def test_close_stops_every_worker_even_a_busy_one_and_refuses_later_invocations() -> None:
    pool = WorkerPool(2)
    pool.start()
    pids = pool.pids
    errors: list[BaseException] = []

    def busy() -> None:
        try:
            _invoke(pool, "sleep", {"seconds": 60})
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=busy)
    thread.start()
    while pool.invocations == 0:
        time.sleep(0.01)
    pool.close(timeout=0.5)
    thread.join(10)
    assert still_alive(pids) == []
    assert len(errors) == 1 and isinstance(errors[0], WorkerCrashedError)
    assert pool.pids == []
    with pytest.raises(PoolClosedError):
        _invoke(pool, "echo")


def test_workers_exit_when_their_server_dies_without_closing_the_pool() -> None:
    """SIGKILL of `chat-memory serve` leaves no orphans: each worker sees its pipe close and exits."""
    script = textwrap.dedent(
        """
        import json, os
        from chat_memory_dev.local.workers import WorkerPool
        if __name__ == "__main__":
            pool = WorkerPool(2)
            pool.start()
            pool.invoke("tests.unit.dev.pool_handlers.echo", "F", {}, "r", 30000)  # the workers are up
            print(json.dumps(pool.pids), flush=True)
            os._exit(0)  # no close(), no atexit: as if killed
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    pids = json.loads(done.stdout)
    assert len(pids) == 2
    assert still_alive(pids) == []


# ---------------------------------------------------------------------------------- through the local API

AUTHORIZER = LambdaAuthorizer(
    name="Keys",
    function="AuthorizerFunction",
    handler=f"{HANDLERS}.authorize",
    payload_format_version="2.0",
    simple_responses=True,
    identity_headers=("Authorization",),
    identity_query_strings=(),
    ttl_seconds=60,
    timeout_s=5,
)


def _get(api: LocalApi, target: str, *headers: tuple[str, str]) -> Any:
    return api.handle(HttpRequest("GET", target, [("Host", "127.0.0.1:8000"), *headers]))


def test_local_api_answers_500_for_a_crashed_worker_and_serves_the_next_request(pool: WorkerPool) -> None:
    routes = (
        HttpRoute("CrashFunction", f"{HANDLERS}.crash", "GET", "/crash"),
        HttpRoute("EchoFunction", f"{HANDLERS}.echo", "GET", "/echo"),
    )
    api = LocalApi(routes, {}, invoker=pool)
    crashed = _get(api, "/crash")
    assert (crashed.status, json.loads(crashed.body)) == (500, {"message": "Internal server error"})
    assert pool.replaced == 1
    assert _get(api, "/echo").status == 200


def test_local_api_answers_503_when_the_integration_times_out(
    pool: WorkerPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chat_memory_dev.local import server

    monkeypatch.setattr(server, "INTEGRATION_TIMEOUT_MS", 100)
    api = LocalApi((HttpRoute("SlowFunction", f"{HANDLERS}.slow", "GET", "/slow"),), {}, invoker=pool)
    slow = _get(api, "/slow")
    assert (slow.status, json.loads(slow.body)) == (503, {"message": "Service Unavailable"})


def test_local_api_answers_500_when_the_function_times_out_before_the_integration(pool: WorkerPool) -> None:
    # On an HTTP API a Lambda that runs past its own Timeout is an error (500); only the 30 s integration timeout
    # is a 503.
    api = LocalApi((HttpRoute("SlowFunction", f"{HANDLERS}.slow", "GET", "/slow", timeout_s=1),), {}, invoker=pool)
    slow = _get(api, "/slow")
    assert (slow.status, json.loads(slow.body)) == (500, {"message": "Internal server error"})


def test_the_authorizer_runs_in_a_worker_and_its_answer_is_cached_in_the_server(pool: WorkerPool) -> None:
    route = HttpRoute("EchoFunction", f"{HANDLERS}.echo", "GET", "/echo", AUTHORIZER.name)
    api = LocalApi((route,), {AUTHORIZER.name: AUTHORIZER}, invoker=pool)
    contexts = []
    for _ in range(3):
        response = _get(api, "/echo", ("Authorization", "k1"))
        assert response.status == 200
        contexts.append(json.loads(response.body)["event"]["requestContext"]["authorizer"]["lambda"])
    assert contexts[0]["tenant"] == "tenant-of-k1" and contexts[0]["authorizer_pid"] in pool.pids
    assert contexts == [contexts[0]] * 3
    assert pool.invocations == 4  # the authorizer once, then from the server's cache; the route three times
    assert _get(api, "/echo").status == 401  # no identity source: refused without invoking anything
    assert pool.invocations == 4


def test_a_cold_starts_import_is_not_charged_to_the_functions_timeout_but_has_its_own_bound(pool: WorkerPool) -> None:
    slow_import = "tests.unit.dev.pool_slow_import.handler"
    assert pool.invoke(slow_import, "F", {}, "r", 100) == "warm"  # the import takes 1 s; the handler, no time
    impatient = WorkerPool(1, init_timeout_s=0.2)
    with impatient:
        with pytest.raises(InvocationTimeoutError, match="import"):
            impatient.invoke(slow_import, "F", {}, "r", 30_000)
        assert impatient.replaced == 1
