"""Lambda handlers in worker processes, one invocation per process at a time, as Lambda runs them on AWS.

On AWS every concurrent request gets its own execution environment. `chat-memory serve --workers N` models that
with N worker processes: each imports the handlers it is asked for on first use and keeps them warm, reaches
DynamoDB over its endpoint URL like a Lambda function would, and runs one invocation at a time. Requests take the
most recently used free worker (Lambda reuses warm environments too), so a sequential client warms one worker and
concurrent clients warm more; with every worker busy, a request waits for one.

- Workers are started with multiprocessing's "spawn" method (the server has threads: forking it is unsafe); they
  inherit the server's environment as it is when they start (TABLE_NAME, AWS_ENDPOINT_URL_DYNAMODB, credentials,
  region, function settings).
- Events and results are plain dicts, pickled over a pipe. A handler's exception comes back as
  `HandlerError` (the worker stays warm, as a Python Lambda's environment does).
- A worker that dies during an invocation (a crash, `os._exit`, a signal) gives `WorkerCrashedError`, and one that
  overruns the invocation's timeout is killed and gives `InvocationTimeoutError`; either way it is replaced by a
  fresh (cold) worker.
- Workers ignore Ctrl-C (the terminal sends it to the whole process group): the server stops them in `close()`.
  A worker whose server is gone exits when its pipe closes.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any, Final

# Workers of `chat-memory serve` by default: enough for real races between requests, and beside the stream
# consumers, without crowding a laptop; each is spawned at start-up (~0.1 s of CPU, in parallel) and imports a
# handler (~0.4 s) only when an invocation first needs it there, and a sequential client keeps reusing the warmest
# one, so a test that starts the server pays little more than with in-process handlers.
DEFAULT_WORKERS: Final = 4
# Lambda gives a cold start's init (imports) 10 s of its own; a loaded laptop importing in several fresh workers at
# once needs more, yet a stuck import must end.
INIT_TIMEOUT_S: Final = 60.0
# How long a request may wait for a free worker. A local artefact (Lambda would start another environment), so not
# charged to the function's timeout; API Gateway's integration timeout bounds it, as no client waits longer on AWS.
QUEUE_TIMEOUT_S: Final = 30.0
REPLY_GRACE_S: Final = 2.0  # beyond the invocation's timeout, for the reply to cross the pipe
STOP_TIMEOUT_S: Final = 5.0  # how long close() lets a busy worker finish before terminating it
_STARTED: Final = pickle.dumps(("started",))  # a worker's word that the handler is imported and now runs


class InvocationError(RuntimeError):
    """An invocation in a worker did not produce a result."""


class HandlerError(InvocationError):
    """The handler raised; the message carries the worker's traceback."""


class WorkerCrashedError(InvocationError):
    """The worker process died before answering (it has been replaced)."""


class InvocationTimeoutError(InvocationError):
    """No answer within the invocation's timeout (the worker has been killed and replaced)."""


class PoolClosedError(InvocationError):
    """The pool is shut down."""


# ------------------------------------------------------------------------------------------------- the worker


def _worker_main(conn: Connection) -> None:
    """A worker process: invocations from `conn` until the server sends None or goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when its workers stop
    from chat_memory_dev.local.runtime import (
        FakeLambdaContext,
        HandlerCache,
        discard_unpublished_metrics,
        quiet_warnings,
    )

    quiet_warnings()
    handlers = HandlerCache()
    while True:
        try:
            request = pickle.loads(conn.recv_bytes())  # noqa: S301 - from our own server, over a private pipe
        except (EOFError, OSError):
            return  # the server is gone
        if request is None:
            return
        handler, function, event, request_id, timeout_ms = request
        reply: tuple[Any, ...]
        try:
            try:
                run = handlers.get(handler)  # a cold start imports it: Lambda's init phase, outside the timeout
            finally:
                conn.send_bytes(_STARTED)
            result = run(event, FakeLambdaContext(function, request_id, timeout_ms))
            reply = ("ok", result)
        except Exception as exc:
            reply = ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        finally:
            discard_unpublished_metrics()
        try:
            payload = pickle.dumps(reply)
        except Exception as exc:  # e.g. a result that is not plain data
            payload = pickle.dumps(("error", f"unpicklable result: {exc}", traceback.format_exc()))
        conn.send_bytes(payload)


# --------------------------------------------------------------------------------------------------- the pool


@dataclass(eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    stopping: threading.Lock = field(default_factory=threading.Lock)  # _stop() runs once


class WorkerPool:
    """`size` worker processes; `invoke()` runs a handler in a free one (thread-safe). `start()`, then `close()`.

    `reply_grace_s`: how long past an invocation's timeout its reply may take before the worker is killed;
    `init_timeout_s`, `queue_timeout_s`: see INIT_TIMEOUT_S and QUEUE_TIMEOUT_S.
    """

    def __init__(
        self,
        size: int,
        *,
        reply_grace_s: float = REPLY_GRACE_S,
        init_timeout_s: float = INIT_TIMEOUT_S,
        queue_timeout_s: float = QUEUE_TIMEOUT_S,
    ) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, not {size}")
        self.size = size
        self.reply_grace_s = reply_grace_s
        self.init_timeout_s = init_timeout_s
        self.queue_timeout_s = queue_timeout_s
        self._context = multiprocessing.get_context("spawn")
        self._changed = threading.Condition()
        self._idle: list[_Worker] = []  # a stack: the most recently used worker is the warmest
        self._workers: list[_Worker] = []
        self._started = False
        self._closed = False
        self._spawned = 0
        # Counters, for tests and the curious.
        self.invocations = 0
        self.replaced = 0

    # -- lifecycle

    def start(self) -> None:
        with self._changed:
            if self._started:
                return
            if self._closed:
                raise PoolClosedError("the worker pool is closed")
            self._started = True
            for _ in range(self.size):
                self._idle.append(self._spawn())
            self._changed.notify_all()

    def _spawn(self) -> _Worker:
        """A new worker (call with the lock held)."""
        ours, theirs = self._context.Pipe()
        self._spawned += 1
        process = self._context.Process(
            target=_worker_main, args=(theirs,), name=f"chat-memory-worker-{self._spawned}", daemon=True
        )
        process.start()
        theirs.close()  # only the worker holds its end: its death shows up as EOF here
        worker = _Worker(process, ours)
        self._workers.append(worker)
        return worker

    def close(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop every worker: idle ones at once, busy ones after their invocation (terminated after `timeout`)."""
        with self._changed:
            self._closed = True
            idle, self._idle = self._idle, []
            workers, self._workers = self._workers, []
            self._changed.notify_all()
        for worker in idle:
            with contextlib.suppress(OSError):  # already gone
                worker.conn.send_bytes(pickle.dumps(None))
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
        for worker in workers:
            _stop(worker)

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def pids(self) -> list[int]:
        """The process ids of the current workers."""
        with self._changed:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    # -- invoking

    def invoke(self, handler: str, function: str, event: dict[str, Any], request_id: str, timeout_ms: int) -> Any:
        """Run `handler` (module.function) on `event` in a free worker and return its result.

        `timeout_ms` is the function's: it starts once the handler is imported (a cold start's init is bounded
        separately, as on Lambda). Raises an InvocationError when no result comes back.
        """
        request = pickle.dumps((handler, function, event, request_id, timeout_ms))
        with self._checked_out(time.monotonic() + self.queue_timeout_s) as worker:
            self.invocations += 1
            try:
                worker.conn.send_bytes(request)
                self._receive(worker, self.init_timeout_s, f"{function}: the handler's import")
                reply = self._receive(worker, timeout_ms / 1000 + self.reply_grace_s, f"{function}: the invocation")
            except (EOFError, OSError) as exc:
                worker.process.join(1.0)
                code = worker.process.exitcode
                raise _BrokenWorkerError(WorkerCrashedError(f"{function}: the worker died (exit code {code})")) from exc
        if reply[0] == "ok":
            return reply[1]
        raise HandlerError(f"{reply[1]}\n--- in the worker:\n{reply[2]}")

    @staticmethod
    def _receive(worker: _Worker, timeout_s: float, what: str) -> tuple[Any, ...]:
        """The worker's next message; EOFError when it died, _BrokenWorkerError when it is silent too long."""
        if not wait([worker.conn, worker.process.sentinel], timeout_s):
            raise _BrokenWorkerError(InvocationTimeoutError(f"{what} did not finish within {timeout_s:g} s"))
        # A message sent just before dying is still read. Our own worker's, over a private pipe:
        message: tuple[Any, ...] = pickle.loads(worker.conn.recv_bytes())  # noqa: S301
        return message

    @contextmanager
    def _checked_out(self, deadline: float) -> Iterator[_Worker]:
        """A free worker, given back afterwards, or replaced when the invocation broke it."""
        with self._changed:
            while not self._idle:
                remaining = deadline - time.monotonic()
                if self._closed:
                    raise PoolClosedError("the worker pool is closed")
                if remaining <= 0:
                    raise InvocationTimeoutError(f"no free worker within {self.queue_timeout_s:g} s")
                self._changed.wait(remaining)
            worker = self._idle.pop()
        try:
            yield worker
        except _BrokenWorkerError as broken:
            self._replace(worker)
            raise broken.error from broken.__cause__
        except BaseException:
            self._replace(worker)  # its state is unknown
            raise
        with self._changed:
            closed = self._closed
            if not closed:
                self._idle.append(worker)
                self._changed.notify()
        if closed:
            _stop(worker)

    def _replace(self, worker: _Worker) -> None:
        with self._changed:
            if worker in self._workers:
                self._workers.remove(worker)
        _stop(worker)
        with self._changed:
            if not self._closed:
                self._idle.append(self._spawn())
                self.replaced += 1
                self._changed.notify()


class _BrokenWorkerError(Exception):
    """Internal: the invocation left its worker unusable; carries the error for the caller."""

    def __init__(self, error: InvocationError) -> None:
        super().__init__(str(error))
        self.error = error


def _stop(worker: _Worker) -> None:
    """End a worker process for good (terminate, then kill) and close its pipe; once, whoever asks first."""
    if not worker.stopping.acquire(blocking=False):
        return
    process = worker.process
    if process.is_alive():
        process.terminate()
        process.join(2.0)
        if process.is_alive():
            process.kill()
            process.join(2.0)
    else:
        process.join(0)  # reap it
    worker.conn.close()


__all__ = [
    "DEFAULT_WORKERS",
    "HandlerError",
    "InvocationError",
    "InvocationTimeoutError",
    "PoolClosedError",
    "WorkerCrashedError",
    "WorkerPool",
]
