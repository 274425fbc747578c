"""The one Logger, Tracer and Metrics of every function.

Never log message content or metadata: log ids, counts and sizes only.

Tracing is Lambda's own (the template's `Tracing: Active`: each invocation's segment, its initialisation
included). The X-Ray SDK, which Powertools' Tracer needs for subsegments, costs about 0.3 s of every cold start
and a second botocore in every package, so it is not shipped: the `tracer` decorators mark what would be a
subsegment and cost nothing. With `CHAT_MEMORY_XRAY_SUBSEGMENTS=true` and `aws-xray-sdk` in the package they
become Powertools' Tracer (responses never captured), built on the first traced call.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

SERVICE = "chat-memory"
NAMESPACE = "ChatMemory"
SUBSEGMENTS_ENV = "CHAT_MEMORY_XRAY_SUBSEGMENTS"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)

F = TypeVar("F", bound=Callable[..., Any])


@functools.cache
def powertools_tracer() -> Tracer | None:
    """Powertools' Tracer when subsegments are asked for and the X-Ray SDK is there; else None."""
    if os.environ.get(SUBSEGMENTS_ENV, "").strip().lower() != "true":
        return None
    try:
        from aws_lambda_powertools import Tracer

        return Tracer(service=SERVICE)
    except ImportError:
        logger.warning(f"{SUBSEGMENTS_ENV} is set but aws-xray-sdk is not installed: no subsegments")
        return None


class Tracing:
    """Powertools' Tracer decorators, applied on the first call only if `powertools_tracer()` gives a Tracer."""

    def capture_lambda_handler(self, *, capture_response: bool = False) -> Callable[[F], F]:
        return _lazily(lambda tracer: tracer.capture_lambda_handler(capture_response=capture_response))

    def capture_method(self, *, capture_response: bool = False) -> Callable[[F], F]:
        return _lazily(lambda tracer: tracer.capture_method(capture_response=capture_response))


def _lazily(decorator_of: Callable[[Tracer], Callable[[Callable[..., Any]], Callable[..., Any]]]) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        chosen: list[Callable[..., Any]] = []

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            if not chosen:
                tracer = powertools_tracer()
                chosen.append(func if tracer is None else decorator_of(tracer)(func))
            return chosen[0](*args, **kwargs)

        return call  # type: ignore[return-value]

    return decorate


tracer = Tracing()
