"""Tracing costs no cold start: the X-Ray SDK is never imported unless subsegments are asked for."""

import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
HANDLERS = ["reads", "add_memory", "writes", "authorizer", "health", "not_served", "summariser", "purger", "embedder"]


def _run(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=FUNCTIONS,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "true", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_no_handler_imports_the_xray_sdk_nor_does_a_traced_call() -> None:
    imports = "".join(f"import chat_memory.handlers.{name}\n" for name in HANDLERS)
    code = (
        f"import sys\n{imports}"
        "from chat_memory.observability import tracer\n"
        "@tracer.capture_method(capture_response=False)\n"
        "def f(x): return x + 1\n"
        "assert f(1) == 2\n"
        "print(sorted(m for m in sys.modules if m.startswith('aws_xray_sdk')))"
    )
    assert _run(code) == "[]"


def test_subsegments_asked_for_use_powertools_tracer() -> None:
    pytest.importorskip("aws_xray_sdk")
    code = (
        "from chat_memory.observability import powertools_tracer, tracer\n"
        "@tracer.capture_lambda_handler(capture_response=False)\n"
        "def handler(event, context): return {'ok': event}\n"
        "assert handler(1, None) == {'ok': 1}\n"
        "print(type(powertools_tracer()).__name__)"
    )
    assert _run(code, CHAT_MEMORY_XRAY_SUBSEGMENTS="true") == "Tracer"
