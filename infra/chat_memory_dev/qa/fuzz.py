"""`chat-memory fuzz`: schemathesis against infra/openapi.json and a `chat-memory serve` on loopback.

Schemathesis generates requests from the document (valid and invalid ones, odd path ids, NUL bytes, huge and
nested values, stateful sequences: create, read, delete, read again) and checks every answer: never a 5xx, a
status, content type, headers and body the document declares, invalid requests refused, deleted things gone,
auth enforced. Two of its checks are left out, for reasons the document cannot change:

- positive_data_acceptance (a request valid by the document must succeed): some rules are not expressible in
  OpenAPI (a body's `user_id` must equal the path's, `page_token` must be one we issued, `user_id` must name a
  live user, byte limits on UTF-8 text and metadata), so valid-looking requests are rightly refused with 400.
- unsupported_method (an undeclared method must get 405): API Gateway HTTP APIs answer 404 there; serve answers
  405 to make mistakes plain. Either is a 4xx; not_a_server_error still runs on those requests.

Exit status: schemathesis's (0: no failure).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from chat_memory_dev.local.api_docs import OPENAPI_PATH
from chat_memory_dev.local.child import local_serve
from chat_memory_dev.local.server import API_KEY_ENV

EXCLUDED_CHECKS = ("positive_data_acceptance", "unsupported_method")
QUICK_EXAMPLES = 15
FUZZ_TABLE = "chat-memory-fuzz"
DEFAULT_EXAMPLES = 200


def schemathesis_command(base_url: str, api_key: str, examples: int, seed: int | None, workers: int) -> list[str]:
    # The console script next to this interpreter (a venv's bin/), else on PATH.
    script = Path(sys.executable).with_name("schemathesis")
    executable = str(script) if script.exists() else (shutil.which("schemathesis") or "schemathesis")
    command = [
        executable,
        "run",
        str(OPENAPI_PATH),
        "--url",
        base_url,
        "--header",
        f"Authorization: Bearer {api_key}",
        "--checks",
        "all",
        "--exclude-checks",
        ",".join(EXCLUDED_CHECKS),
        "--max-examples",
        str(examples),
        "--workers",
        str(workers),
        "--no-color",
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    return command


def run(
    *, url: str | None, api_key: str | None, examples: int, seed: int | None, workers: int, serve_workers: int | None
) -> int:
    if url is not None:
        if not api_key:
            print(f"chat-memory fuzz: --url needs --api-key (or ${API_KEY_ENV})", file=sys.stderr)
            return 2
        return subprocess.call(schemathesis_command(url, api_key, examples, seed, workers))  # noqa: S603
    key = f"cm_fuzz_{secrets.token_urlsafe(16)}"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "serve.log"
        with local_serve(key, FUZZ_TABLE, workers=serve_workers, log=log) as served:
            code = subprocess.call(schemathesis_command(served.url, key, examples, seed, workers))  # noqa: S603
        if code != 0:
            print_server_side(log)
        return code


_ANSWERED_LINE = re.compile(r"^[A-Z]+ \S+ [1-4]\d\d [\d.]+ms$")  # serve's access line of a request not a 5xx


def print_server_side(log: Path, limit: int = 200) -> None:
    """What serve said but its access lines of answers below 500: the 5xx and why (failures, timeouts, tracebacks)."""
    lines = [line for line in log.read_text(errors="replace").splitlines() if not _ANSWERED_LINE.match(line)]
    print(
        f"== chat-memory serve said (last {min(limit, len(lines))} lines, 1xx-4xx access lines left out):",
        file=sys.stderr,
    )
    for line in lines[-limit:]:
        print(line, file=sys.stderr)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="API root of a running server or stack (default: start chat-memory serve)")
    parser.add_argument(
        "--api-key", default=os.environ.get(API_KEY_ENV), help=f"API key for --url (default: ${API_KEY_ENV})"
    )
    parser.add_argument(
        "--examples", type=int, default=DEFAULT_EXAMPLES, help="examples per operation and phase (default %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help=f"CI size: {QUICK_EXAMPLES} examples")
    parser.add_argument("--seed", type=int, help="schemathesis seed, to replay a run")
    # One worker: schemathesis 4.32's coverage phase failed inside Hypothesis with two ("AST constructor recursion").
    parser.add_argument("--workers", type=int, default=1, help="concurrent schemathesis workers (default %(default)s)")
    parser.add_argument("--serve-workers", type=int, help="chat-memory serve --workers (default: serve's)")


def run_args(args: argparse.Namespace) -> int:
    return run(
        url=args.url,
        api_key=args.api_key,
        examples=QUICK_EXAMPLES if args.quick else args.examples,
        seed=args.seed,
        workers=args.workers,
        serve_workers=args.serve_workers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-memory fuzz", description=__doc__.splitlines()[0] if __doc__ else None)
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
