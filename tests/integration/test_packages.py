"""Each function ships what it imports: the ones without the TokenizerLayer never import tiktoken, and every
package (code, functions/requirements.txt and, for the token counters, the layer) stays within its budget.

Sizes come from this venv's installed distributions (CPython 3.11, this machine's platform): close to, not the
same as, the arm64 python3.13 build (`make build`; the bench's package table measures that).
"""

import json
import marshal
import subprocess
import sys
import zlib
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from chat_memory_dev.gen import requirements
from chat_memory_dev.template import REPO_ROOT, load_template

EVENTS = REPO_ROOT / "events"
FUNCTIONS_DIR = REPO_ROOT / "functions"
MIB = 2**20
# Zipped budgets (issue 17: the read path at most 10 MiB), bytecode included (`make build` compiles every package).
# Estimated 2026-12-05: 5.8 MiB for every function's package, 3.9 MiB for the layer (sam build + compileall:
# 5.9 and 3.9 MiB); the budgets leave room for the arm64 wheels and for growth, not for a new dependency the size
# of the tokenizer.
PACKAGE_BUDGET_MIB = 8.0
LAYER_BUDGET_MIB = 5.0

_PROBE = """
import importlib.abc, json, sys
attempts = []
class NoTokenizer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tiktoken", "tiktoken_ext", "regex"):
            attempts.append(name)
            raise ImportError(f"{name} is the TokenizerLayer's")
        return None
sys.meta_path.insert(0, NoTokenizer())
import boto3
from chat_memory_dev.localdb.engine import mock_dynamodb
from chat_memory_dev.localdb.dynamodb import create_table_from_template
from chat_memory_dev.local.runtime import FakeLambdaContext
with mock_dynamodb():
    create_table_from_template(boto3.client("dynamodb", region_name="us-east-1"), "chat-memory-packages")
    module = __import__(sys.argv[1], fromlist=["lambda_handler"])
    event = json.load(open(sys.argv[2]))
    if sys.argv[1].endswith(".authorizer"):  # the read route's request, as API Gateway asks the authorizer
        from chat_memory_dev.local.server import build_authorizer_event
        event = build_authorizer_event(event, ["Bearer cm_a-key-no-tenant-has-0123456789abcdef"])
    try:
        module.lambda_handler(event, FakeLambdaContext("f", "r"))
        outcome = "answered"
    except Exception as exc:  # a handler may refuse a sample event; what matters is what it imported
        outcome = type(exc).__name__
print(json.dumps({"attempts": attempts, "outcome": outcome}))
"""


def _functions() -> dict[str, dict[str, object]]:
    resources = load_template()["Resources"]
    return {n: r["Properties"] for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}


def _without_layer() -> list[tuple[str, str]]:
    """(function, handler module) of every function without the TokenizerLayer."""
    return [
        (name, str(props["Handler"]).rsplit(".", 1)[0])
        for name, props in _functions().items()
        if {"Ref": "TokenizerLayer"} not in props.get("Layers", [])  # type: ignore[operator]
    ]


@pytest.mark.parametrize(("function", "module"), _without_layer())
def test_a_function_without_the_tokenizer_layer_never_imports_it(function: str, module: str) -> None:
    event = EVENTS / f"{module.rsplit('.', 1)[-1]}.json"
    if not event.exists():  # the authorizer has no sample event: the probe builds its request from the read's
        event = EVENTS / "reads.json"
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "TABLE_NAME": "chat-memory-packages",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "ERROR",
    }
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, module, str(event)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == [], f"{function} ({result['outcome']}) imported {result['attempts']}"


def _closure(names: list[str]) -> set[str]:
    """The installed distributions these requirements pull in, boto3 and botocore left to the runtime."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = requirements.project_name(todo.pop())
        if name in seen or name in requirements.PROVIDED_BY_RUNTIME:
            continue
        seen.add(name)
        for spec in metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


def _files(distributions: set[str]) -> Iterator[Path]:
    for name in distributions:
        for file in metadata.files(name) or []:
            path = Path(str(file.locate()))
            if path.is_file() and "__pycache__" not in path.parts and ".dist-info" not in str(file):
                yield path
    yield from (p for p in (FUNCTIONS_DIR / "chat_memory").rglob("*.py"))


def _zipped_mib(paths: Iterator[Path]) -> float:
    """Each file zipped, and for a module its bytecode too (`make build` compiles every package)."""
    return sum(len(zlib.compress(p.read_bytes(), 6)) + _bytecode_zipped(p) for p in paths) / MIB


def _bytecode_zipped(path: Path) -> int:
    if path.suffix != ".py":
        return 0
    try:
        code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
    except SyntaxError:  # a template or a file for another Python: compileall skips it too
        return 0
    return len(zlib.compress(marshal.dumps(code), 6)) + 16  # a .pyc: its 16-byte header, then the code


def _requirement_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def test_every_package_stays_within_its_budget() -> None:
    common = _zipped_mib(_files(_closure(_requirement_lines(requirements.REQUIREMENTS_PATH))))
    layer_files = _files(_closure(_requirement_lines(requirements.TOKENIZER_REQUIREMENTS_PATH)))
    layer = _zipped_mib(p for p in layer_files if FUNCTIONS_DIR not in p.parents)
    assert layer <= LAYER_BUDGET_MIB, f"the TokenizerLayer is {layer:.1f} MiB zipped"
    for function, props in _functions().items():
        size = common + (layer if {"Ref": "TokenizerLayer"} in props.get("Layers", []) else 0.0)  # type: ignore[operator]
        budget = PACKAGE_BUDGET_MIB + (LAYER_BUDGET_MIB if size > common else 0.0)
        assert size <= budget, f"{function}: {size:.1f} MiB zipped, over its {budget} MiB"
