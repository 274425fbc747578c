"""Cold starts in `chat-memory bench`: each function as a fresh process that imports its handler and serves its
first invocation against a warm local DynamoDB, paired with the floor every Python Lambda pays anyway (a fresh
process that imports boto3 and makes one DynamoDB client).

Targets are run round robin (drift hits every one alike) and compared by the CPU time of the whole process (user +
system, from the child's rusage): wall time on a shared 2-core machine measures the neighbours. Budgets (issue
17): read and sessions at most 1.3x the floor, write (the tokenizer) 1.8x, the authorizer 1.2x.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

FLOOR: Final = "floor: import boto3 + a DynamoDB client"
BUDGETS: Final = {"reads": 1.3, "writes": 1.3, "add_memory": 1.8, "authorizer": 1.2}
_HANDLERS: Final = ("health", "reads", "add_memory", "writes", "summariser", "purger", "authorizer")
TARGETS: Final = 1 + len(_HANDLERS)  # the floor and each handler
_KEY: Final = "cm_cold-start-key-0123456789abcdefghijklmnopqrstuvwxyz"
_FLOOR_CODE: Final = 'import boto3\nboto3.client("dynamodb")'
_PROBE: Final = """\
import json, time
t0 = time.perf_counter()
from chat_memory.handlers.{handler} import lambda_handler
t1 = time.perf_counter()
class Context:
    function_name = "cold-start"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold-start"
    aws_request_id = "cold-start-1"
    def get_remaining_time_in_millis(self): return 30_000
with open({event!r}) as f:
    lambda_handler(json.load(f), Context())
print(t1 - t0, time.perf_counter() - t1)
"""


def _events(events_dir: Path, out: Path) -> dict[str, Path]:
    """Each handler's first event: events/<handler>.json, and for the authorizer the read's route with a key."""
    from chat_memory_dev.local.server import build_authorizer_event

    found = {h: events_dir / f"{h}.json" for h in _HANDLERS if (events_dir / f"{h}.json").exists()}
    read = json.loads(found["reads"].read_text())
    authorizer = out / "authorizer.json"
    authorizer.write_text(json.dumps(build_authorizer_event(read, [f"Bearer {_KEY}"])))
    return {**found, "authorizer": authorizer}


def _programs(events: Mapping[str, Path]) -> dict[str, str]:
    programs = {FLOOR: "import time\nt0 = time.perf_counter()\n" + _FLOOR_CODE + "\nprint(time.perf_counter() - t0, 0)"}
    for handler in _HANDLERS:
        programs[handler] = _PROBE.format(handler=handler, event=str(events[handler]))
    return programs


def measure(runs: int, env: Mapping[str, str], events_dir: Path, tick: Callable[[], object]) -> dict[str, Any]:
    """Median CPU and wall time of `runs` fresh processes per target, and each handler's ratio to the floor."""
    from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore
    from chat_memory_dev.localdb.dynamodb import EmbeddedDynamoDB, create_table_from_template

    samples: dict[str, list[tuple[float, float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp, EmbeddedDynamoDB() as db:
        import boto3

        client = boto3.client(  # the bench's moto-only credentials (env): they reach no account
            "dynamodb",
            endpoint_url=db.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        create_table_from_template(client, env["TABLE_NAME"])
        # The authorizer's common case: a valid key, then its tenant's settings (two GetItem calls).
        ApiKeyStore(env["TABLE_NAME"], client).ensure("cold-start", "cold start", _KEY)
        child_env = {**env, "AWS_ENDPOINT_URL_DYNAMODB": db.endpoint_url, "PYTHONWARNINGS": "ignore"}
        programs = _programs(_events(events_dir, Path(tmp)))
        for _ in range(runs):
            for name, code in programs.items():
                samples.setdefault(name, []).append(_one(code, child_env, name))
                tick()
    return _summary(samples)


def _one(code: str, env: Mapping[str, str], name: str) -> tuple[float, float, float, float]:
    """(CPU, wall, import, first invocation) in ms of one fresh process; the CPU from the child's rusage."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own interpreter, our own code
        [sys.executable, "-c", code], env=dict(env), capture_output=True, text=True, check=False
    )
    wall_ms = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {name} failed: {done.stderr.strip()[-500:]}")
    cpu_ms = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000
    imported, invoked = (float(x) * 1000 for x in done.stdout.split()[-2:])
    return cpu_ms, wall_ms, imported, invoked


def _summary(samples: Mapping[str, list[tuple[float, float, float, float]]]) -> dict[str, Any]:
    def median(name: str, i: int) -> float:
        return round(statistics.median(s[i] for s in samples[name]), 1)

    floor_cpu = median(FLOOR, 0)
    return {
        name: {
            "cpu_ms": median(name, 0),
            "process_ms": median(name, 1),
            "import_ms": median(name, 2),
            "init_ms": median(name, 3),  # the first invocation (the floor: its client)
            "ratio": round(median(name, 0) / floor_cpu, 2) if floor_cpu else None,
            "budget": BUDGETS.get(name),
            "runs": len(runs),
        }
        for name, runs in samples.items()
    }
