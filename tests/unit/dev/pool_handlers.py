"""Stand-in Lambda handlers for the worker pool's tests, imported by name inside the worker processes."""

import json
import os
import time
from pathlib import Path
from typing import Any

_invocations = 0  # module state: survives between invocations only in a warm worker


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _invocations
    _invocations += 1
    return {
        "event": event,
        "pid": os.getpid(),
        "function": context.function_name,
        "request_id": context.aws_request_id,
        "warm_invocations": _invocations,
        "env": os.environ.get("CHAT_MEMORY_POOL_TEST", ""),
    }


def rendezvous(event: dict[str, Any], context: Any) -> int:
    """Wait until `count` invocations have arrived in `directory`: only concurrent invocations all return."""
    directory = Path(event["directory"])
    (directory / f"{os.getpid()}-{context.aws_request_id}").touch()
    deadline = time.monotonic() + event["wait_s"]
    while len(list(directory.iterdir())) < event["count"]:
        if time.monotonic() > deadline:
            raise TimeoutError("the other invocations never came: they are not running at the same time")
        time.sleep(0.01)
    return os.getpid()


def fail(event: dict[str, Any], context: Any) -> None:
    raise ValueError("failed on purpose")


def crash(event: dict[str, Any], context: Any) -> None:
    os._exit(3)  # as a segfault or the out-of-memory killer would end it: no reply, no cleanup


def sleep(event: dict[str, Any], context: Any) -> None:
    time.sleep(event["seconds"])


def unpicklable(event: dict[str, Any], context: Any) -> Any:
    return lambda: None


def slow(event: dict[str, Any], context: Any) -> None:
    time.sleep(60)


def authorize(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A simple-response authorizer: every key is good, for the tenant named after it."""
    key = event["headers"]["authorization"]
    return {"isAuthorized": True, "context": {"tenant": f"tenant-of-{key}", "authorizer_pid": os.getpid()}}


def record(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A stream consumer: appends what it got, and where, to $POOL_TEST_RECORD_FILE (one JSON line per batch)."""
    line = {
        "pid": os.getpid(),
        "function": context.function_name,
        "sequences": [r["dynamodb"]["SequenceNumber"] for r in event["Records"]],
        "summary_model_id": os.environ.get("SUMMARY_MODEL_ID"),
    }
    with Path(os.environ["POOL_TEST_RECORD_FILE"]).open("a") as out:
        out.write(json.dumps(line) + "\n")
    return {"batchItemFailures": []}
