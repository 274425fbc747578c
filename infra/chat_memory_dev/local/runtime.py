"""What the Lambda runtime gives a handler, locally: importing it, a context object, clean-up between invocations.

Shared by the local server (chat_memory_dev.local.server), its stream consumers (chat_memory_dev.local.stream) and
its worker processes (chat_memory_dev.local.workers), so a worker imports only this (and the handlers), not the
server. `Invoker` is how the server and the stream consumers run a handler: `InProcessInvoker` here, or a
`WorkerPool`.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, Final, Protocol

INTEGRATION_TIMEOUT_MS: Final = 30_000  # API Gateway's maximum integration timeout
ACCOUNT_ID: Final = "123456789012"
REGION: Final = "us-east-1"

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class FakeLambdaContext:
    """The attributes of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function_name: str, request_id: str, timeout_ms: int = INTEGRATION_TIMEOUT_MS) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class HandlerCache:
    """Imports `package.module.function` handlers on first use, once (thread-safe)."""

    def __init__(self) -> None:
        self._handlers: dict[str, LambdaHandler] = {}
        self._lock = threading.Lock()

    def get(self, handler: str) -> LambdaHandler:
        found = self._handlers.get(handler)
        if found is not None:
            return found
        with self._lock:
            found = self._handlers.get(handler)
            if found is None:
                module_name, _, attr = handler.rpartition(".")
                if not module_name:
                    raise ValueError(f"handler must be 'module.function': {handler!r}")
                func = getattr(importlib.import_module(module_name), attr)
                if not callable(func):
                    raise TypeError(f"{handler} is not callable")
                found = self._handlers[handler] = func
        return found


def quiet_warnings() -> None:
    """Metrics are disabled locally, yet Powertools still warns on every invocation that adds none."""
    warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)


def discard_unpublished_metrics() -> None:
    """Drop the metrics an invocation left behind when Powertools metrics are disabled.

    Powertools (3.x) with POWERTOOLS_METRICS_DISABLED=true neither prints nor clears the metric set at the end of
    an invocation, so values pile up across warm invocations until `add_metric` reaches 100 values and prints the
    EMF blob anyway. A long-running local server would print one every ~100 requests.
    """
    if "aws_lambda_powertools.metrics" not in sys.modules:
        return
    from aws_lambda_powertools.metrics import Metrics
    from aws_lambda_powertools.metrics.functions import is_metrics_disabled

    if is_metrics_disabled():
        Metrics().clear_metrics()  # the metric set is shared by every Metrics instance


class Invoker(Protocol):
    """Runs a handler (`module.function`) of `function` on an event, with a Lambda context; returns its result."""

    def invoke(
        self, handler: str, function: str, event: dict[str, Any], request_id: str, timeout_ms: int
    ) -> Any: ...  # pragma: no cover - a protocol


class InProcessInvoker:
    """Handlers imported into this process and run one at a time, under `lock`: Powertools' resolvers keep the
    current event on a class shared by every resolver in a process, so two in-process invocations must not overlap."""

    def __init__(self, handlers: HandlerCache | None = None, lock: threading.Lock | None = None) -> None:
        self.handlers = handlers or HandlerCache()
        self.lock = lock or threading.Lock()

    def invoke(self, handler: str, function: str, event: dict[str, Any], request_id: str, timeout_ms: int) -> Any:
        run = self.handlers.get(handler)
        context = FakeLambdaContext(function, request_id, timeout_ms)
        with self.lock:
            try:
                return run(event, context)
            finally:
                discard_unpublished_metrics()


__all__ = [
    "ACCOUNT_ID",
    "INTEGRATION_TIMEOUT_MS",
    "REGION",
    "FakeLambdaContext",
    "HandlerCache",
    "InProcessInvoker",
    "Invoker",
    "LambdaHandler",
    "discard_unpublished_metrics",
    "quiet_warnings",
]
