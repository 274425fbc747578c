"""`chat-memory bench [--quick] [--out DIR]`: chat-memory against LangChain's `DynamoDBChatMessageHistory`.

One run, one in-process moto DynamoDB, one deterministic conversation (`corpus`), both systems:

* **chat-memory**: the real Lambda handlers called with HTTP API (payload 2.0) events, on the table of
  template.yaml (moto with chat_memory_dev.localdb's engine). Histories are filled straight into the table
  (BatchWriteItem, the repository's own item layout: quicker than request by request), then the measured
  operations go through the handlers: `GET .../memory?lastn=N` (one Query) and `POST .../memory` with one
  user + assistant turn.
* **LangChain**: `DynamoDBChatMessageHistory` on a table keyed by `SessionId`; the whole conversation is one
  item. Histories are filled by writing that item directly (what `add_messages` would have written); the
  measured operations are its own `messages` (reads the whole item whatever N) and `add_messages` (reads the
  whole item, writes it back). Past DynamoDB's 400 KB item limit the write fails (moto enforces the limit).

Capacity units come from `capacity.CapacityRecorder` (DynamoDB's documented sizing rules, per call; moto's
`ConsumedCapacity` is a constant). Latency is in-process wall time of the handler or the LangChain method
against moto, measured with the recorder detached; moto is slower than DynamoDB per call, so the absolute
times mean little: compare the two systems. Cold start: fresh Python processes importing each handler.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from chat_memory_dev.bench import cold_start, corpus
from chat_memory_dev.bench.capacity import indexes_from_table_properties
from chat_memory_dev.bench.events import TENANT, http_event
from chat_memory_dev.stats import percentile
from chat_memory_dev.template import table_properties

if TYPE_CHECKING:
    from tqdm import tqdm

    from chat_memory_dev.bench.capacity import CallTotals, CapacityRecorder, ImageReader

T = TypeVar("T")

OUR_TABLE: Final = "chat-memory-bench"
LANGCHAIN_TABLE: Final = "langchain-bench"
LASTN: Final = (6, 12)
ITEM_LIMIT_BYTES: Final = 400 * 1024
OURS: Final = "chat-memory"
LANGCHAIN: Final = "langchain"
SYSTEMS: Final = (OURS, LANGCHAIN)
DEFAULT_OUT: Final = "bench-results"

_ENVIRONMENT: Final = {
    "AWS_ACCESS_KEY_ID": "testing",  # moto only: nothing here can reach an AWS account
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": OUR_TABLE,
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
_UNSET: Final = ("AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL", "AWS_PROFILE")


@dataclass(frozen=True, slots=True)
class Plan:
    lengths: tuple[int, ...]
    reads: int  # timed repetitions of each window read
    appends: int  # timed appends (one turn each)
    capacity_appends: int  # appends measured for capacity (recorder attached, not timed)
    cold_runs: int  # fresh processes per cold-start target
    zip_packages: bool  # zip each built function (seconds per function)


QUICK: Final = Plan(lengths=(10, 100), reads=5, appends=5, capacity_appends=3, cold_runs=3, zip_packages=False)
FULL: Final = Plan(
    lengths=(10, 100, 1_000, 10_000), reads=30, appends=20, capacity_appends=5, cold_runs=7, zip_packages=True
)


# ------------------------------------------------------------------------------------------------ environment


@contextlib.contextmanager
def _isolated_environment() -> Iterator[None]:
    """Dummy AWS settings and the bench table for the handlers; the caller's environment comes back after."""
    saved = dict(os.environ)
    os.environ.update(_ENVIRONMENT)
    for name in _UNSET:
        os.environ.pop(name, None)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _reset_wiring() -> None:
    from chat_memory import wiring  # the handlers' warm caches were made for another backend

    wiring.reset()


@contextlib.contextmanager
def _recording(recorder: CapacityRecorder, targets: Sequence[Any]) -> Iterator[CapacityRecorder]:
    for target in targets:
        recorder.attach(target)
    try:
        yield recorder
    finally:
        recorder.detach()


def _measured(recorder: CapacityRecorder, targets: Sequence[Any], operation: Callable[[], T]) -> tuple[T, CallTotals]:
    with _recording(recorder, targets):
        mark = len(recorder.records)
        value = operation()
        return value, recorder.totals(since=mark)


def _timed(operation: Callable[[], object]) -> float:
    started = time.perf_counter()
    operation()
    return (time.perf_counter() - started) * 1000


def _latency(samples: Sequence[float]) -> dict[str, Any]:
    return {
        "p50": round(percentile(samples, 50), 3),
        "p95": round(percentile(samples, 95), 3),
        "samples": [round(s, 3) for s in samples],
    }


# ---------------------------------------------------------------------------------------------------- systems


class ItemTooLargeError(Exception):
    """DynamoDB refused an item over 400 KB."""


def _too_large(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    if not isinstance(exc, ClientError):
        return False
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and "size" in str(error.get("Message", "")).lower()


class System(Protocol):
    name: str

    def targets(self, session_id: str) -> Sequence[Any]: ...

    def fill(self, session_id: str, turns: Sequence[corpus.Turn]) -> None: ...

    def window(self, session_id: str, lastn: int) -> int: ...

    def append(self, session_id: str, turn: corpus.Turn) -> None: ...


class ChatMemory:
    """Our handlers, called as API Gateway would; histories written in the repository's item layout."""

    name = OURS

    def __init__(self, client: Any) -> None:
        from chat_memory.adapters.tokenizer import TiktokenCounter
        from chat_memory.handlers import add_memory, reads
        from chat_memory_dev.local.runtime import FakeLambdaContext

        self._client = client  # for filling: not the handlers' client, so never recorded
        self._tokens = TiktokenCounter()
        self._read = reads.lambda_handler
        self._write = add_memory.lambda_handler
        self._context = FakeLambdaContext
        self._ids = uuid.UUID(int=corpus.SEED)

    def targets(self, session_id: str) -> Sequence[Any]:
        from chat_memory.adapters.dynamodb.client import dynamodb_client

        return [dynamodb_client()]

    def image_reader(self) -> ImageReader:
        """Reads an item (strongly consistent) through the filling client, which no recorder is attached to."""

        def read(table: str, key: Mapping[str, Any]) -> Mapping[str, Any] | None:
            item: Mapping[str, Any] | None = self._client.get_item(TableName=table, Key=key, ConsistentRead=True).get(
                "Item"
            )
            return item

        return read

    def _next_uuid(self) -> str:
        self._ids = uuid.uuid5(self._ids, "bench")
        return str(self._ids)

    def fill(self, session_id: str, turns: Sequence[corpus.Turn]) -> None:
        """The session item and its messages as `append_messages` writes them, one second apart, ending 1 h ago."""
        from chat_memory.adapters.dynamodb import keys
        from chat_memory.adapters.dynamodb.items import SessionRecord, message_attributes, session_item
        from chat_memory.domain.models import CountedMessage, NewMessage, RoleType, Session
        from chat_memory.service.memory import token_text

        messages = [
            NewMessage(role=role_type.value, role_type=role_type, content=content)
            for turn in turns
            for role_type, content in ((RoleType.USER, turn.user), (RoleType.ASSISTANT, turn.assistant))
        ]
        pk = keys.session_pk(TENANT, session_id)
        first = (time.time_ns() // 1_000) - (len(messages) + 3_600) * 1_000_000
        items: list[dict[str, Any]] = []
        for i, message in enumerate(messages):
            counted = CountedMessage(message, self._tokens.count(token_text(message)))
            items.append(
                {
                    keys.TABLE_PARTITION_KEY: {"S": pk},
                    keys.TABLE_SORT_KEY: {"S": keys.message_sk(first + i * 1_000_000)},
                    keys.MESSAGE_UUID_ATTR: {"S": self._next_uuid()},
                    **message_attributes(counted),
                }
            )
        last = first + (len(messages) - 1) * 1_000_000
        record = SessionRecord(
            session=Session(
                session_id=session_id,
                uuid=self._next_uuid(),
                created_ts=first,
                updated_ts=last,
                user_id=None,
                metadata={},
            ),
            version=len(turns),  # one add_memory per turn
            last_ts=last,
            first_ts=0,
            deleted=False,
            summary_instruction=None,
            message_count=len(messages),
        )
        items.append(dict(session_item(TENANT, record)))
        _batch_put(self._client, OUR_TABLE, items)

    def search_figures(
        self, session_id: str, recorder: CapacityRecorder, plan: Plan, window: dict[str, Any]
    ) -> dict[str, Any]:
        """Each kind of search on this session: calls, read units, latency, and their ratio to `window`'s."""
        from chat_memory.adapters.dynamodb.client import dynamodb_client
        from chat_memory_dev.bench import search_cost

        search = search_cost.http_search(self._read, self._context, session_id)
        runs = max(3, plan.reads // 3)
        figures = search_cost.measure(search, dynamodb_client(), recorder, _timed, runs)
        window_read = partial(self.window, session_id, LASTN[-1])
        window = window | {"with_network": search_cost.with_network(window_read, dynamodb_client(), _timed, runs)}
        return search_cost.with_ratios(figures, window)

    def index_figures(self, session_id: str, recorder: CapacityRecorder) -> dict[str, Any]:
        """The search index of this session, built as the indexer would: what it wrote."""
        from chat_memory.adapters.dynamodb.client import dynamodb_client
        from chat_memory_dev.bench import search_cost

        return search_cost.build_index(TENANT, session_id, dynamodb_client(), recorder)

    def budget_figures(self, session_id: str, recorder: CapacityRecorder, plan: Plan) -> dict[str, Any]:
        """Memory reads of this session at each token budget: what they answered, calls, read units, latency."""
        from chat_memory.adapters.dynamodb.client import dynamodb_client
        from chat_memory_dev.bench import budget_cost

        read = budget_cost.http_budget_read(self._read, self._context, session_id)
        measured = partial(_measured, recorder, [dynamodb_client()])
        return budget_cost.measure(read, measured, _timed, _latency, max(3, plan.reads // 3))

    def window(self, session_id: str, lastn: int) -> int:
        path = f"/api/v2/sessions/{session_id}/memory"
        reply = self._read(http_event("GET", path, query=f"lastn={lastn}"), self._context("ReadMemoryFunction", "r"))
        if reply["statusCode"] != 200:
            raise RuntimeError(f"memory read answered {reply['statusCode']}: {reply.get('body')}")
        return len(json.loads(reply["body"])["messages"])

    def append(self, session_id: str, turn: corpus.Turn) -> None:
        body = {
            "messages": [
                {"role": "user", "role_type": "user", "content": turn.user},
                {"role": "assistant", "role_type": "assistant", "content": turn.assistant},
            ]
        }
        event = http_event("POST", f"/api/v2/sessions/{session_id}/memory", body)
        reply = self._write(event, self._context("WriteMemoryFunction", "w"))
        if reply["statusCode"] != 201:
            raise RuntimeError(f"add_memory answered {reply['statusCode']}: {reply.get('body')}")


def _batch_put(client: Any, table: str, items: Sequence[Mapping[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]}
        while requests:
            requests = client.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


def _langchain_messages(turns: Sequence[corpus.Turn]) -> list[Any]:
    from langchain_core.messages import AIMessage, HumanMessage

    return [m for turn in turns for m in (HumanMessage(content=turn.user), AIMessage(content=turn.assistant))]


def _langchain_item(session_id: str, turns: Sequence[corpus.Turn]) -> dict[str, Any]:
    """The item `add_messages` leaves behind: the key and `History`, the list of every message as a dict."""
    from langchain_core.messages import messages_to_dict

    return {"SessionId": session_id, "History": messages_to_dict(_langchain_messages(turns))}


class LangChainHistory:
    """langchain_community's DynamoDBChatMessageHistory, one instance (and boto3 resource) per session."""

    name = LANGCHAIN

    def __init__(self) -> None:
        self._histories: dict[str, Any] = {}

    def history(self, session_id: str) -> Any:
        if session_id not in self._histories:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community's sunset notice
                from langchain_community.chat_message_histories import DynamoDBChatMessageHistory

            self._histories[session_id] = DynamoDBChatMessageHistory(table_name=LANGCHAIN_TABLE, session_id=session_id)
        return self._histories[session_id]

    def targets(self, session_id: str) -> Sequence[Any]:
        return [self.history(session_id).table]

    def fill(self, session_id: str, turns: Sequence[corpus.Turn]) -> None:
        try:
            self.history(session_id).table.put_item(Item=_langchain_item(session_id, turns))
        except Exception as exc:
            if _too_large(exc):
                raise ItemTooLargeError(_error_message(exc)) from exc
            raise

    def window(self, session_id: str, lastn: int) -> int:
        return len(self.history(session_id).messages[-lastn:])

    def append(self, session_id: str, turn: corpus.Turn) -> None:
        try:
            self.history(session_id).add_messages(_langchain_messages([turn]))
        except Exception as exc:
            if _too_large(exc):
                raise ItemTooLargeError(_error_message(exc)) from exc
            raise


def _error_message(exc: Exception) -> str:
    response = getattr(exc, "response", {}) or {}
    error = response.get("Error", {})
    return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', exc)}"


# -------------------------------------------------------------------------------------------------- scenarios


def _calls_per_operation(totals: Sequence[CallTotals]) -> dict[str, float]:
    counts: dict[str, int] = {}
    for total in totals:
        for name, count in total.calls.items():
            counts[name] = counts.get(name, 0) + count
    return {name: count / len(totals) for name, count in sorted(counts.items())}


def _scenario(
    system: System, length: int, history: Sequence[corpus.Turn], pool: Iterator[corpus.Turn], plan: Plan, bar: tqdm[Any]
) -> dict[str, Any]:
    from chat_memory_dev.bench.capacity import CapacityRecorder

    session_id = f"bench-{length}"
    bar.set_description(f"{system.name} {length:,} msgs: fill")
    started = time.perf_counter()
    try:
        system.fill(session_id, history)
    except ItemTooLargeError as exc:
        bar.update(_steps_per_scenario(plan))
        return {"history_messages": length, "failed": True, "error": str(exc), "failed_at": "fill"}
    result: dict[str, Any] = {
        "history_messages": length,
        "failed": False,
        "fill_seconds": round(time.perf_counter() - started, 3),
    }
    bar.update(1)
    # Our table's indexes cost writes too (LangChain's table has none), counted from each written item's images
    # before and after the write (read through the filling client, which is not recorded).
    reader = system.image_reader() if isinstance(system, ChatMemory) else None
    recorder = CapacityRecorder(indexes={OUR_TABLE: indexes_from_table_properties(table_properties())}, reader=reader)
    result["window"] = _window_reads(system, length, session_id, recorder, plan, bar)
    if isinstance(system, ChatMemory):
        bar.set_description(f"{system.name} {length:,} msgs: index")
        result["index"] = system.index_figures(session_id, recorder)
        bar.set_description(f"{system.name} {length:,} msgs: search")
        result["search"] = system.search_figures(session_id, recorder, plan, result["window"][str(LASTN[-1])])
        bar.set_description(f"{system.name} {length:,} msgs: token budgets")
        result["budget"] = system.budget_figures(session_id, recorder, plan)

    bar.set_description(f"{system.name} {length:,} msgs: append")
    appended, samples, failure = _appends(system, session_id, pool, recorder, plan, bar)
    if failure is not None:
        result["append_failed"] = failure
    if appended:
        result["append"] = _append_figures(appended, samples)
    return result


def _window_reads(
    system: System, length: int, session_id: str, recorder: CapacityRecorder, plan: Plan, bar: tqdm[Any]
) -> dict[str, Any]:
    """Per lastn: one window read measured (capacity, calls), then `plan.reads` timed."""
    windows: dict[str, Any] = {}
    for lastn in LASTN:
        bar.set_description(f"{system.name} {length:,} msgs: read lastn={lastn}")
        read = partial(system.window, session_id, lastn)
        returned, totals = _measured(recorder, system.targets(session_id), read)
        bar.update(1)
        samples = []
        for _ in range(plan.reads):
            samples.append(_timed(read))
            bar.update(1)
        windows[str(lastn)] = {
            "messages_returned": returned,
            "read_units": totals.read_units,
            "bytes_read": totals.bytes_read,
            "calls": _calls_per_operation([totals]),
            "latency_ms": _latency(samples),
        }
    return windows


def _appends(
    system: System,
    session_id: str,
    pool: Iterator[corpus.Turn],
    recorder: CapacityRecorder,
    plan: Plan,
    bar: tqdm[Any],
) -> tuple[list[CallTotals], list[float], str | None]:
    """`plan.capacity_appends` measured appends, then `plan.appends` timed ones: (their totals, the times, why
    they stopped early or None). An item grown too large ends them; the bar still advances by every step."""
    appended: list[CallTotals] = []
    samples: list[float] = []
    try:
        for _ in range(plan.capacity_appends):
            _, totals = _measured(recorder, system.targets(session_id), partial(system.append, session_id, next(pool)))
            appended.append(totals)
            bar.update(1)
        for _ in range(plan.appends):
            samples.append(_timed(partial(system.append, session_id, next(pool))))
            bar.update(1)
    except ItemTooLargeError as exc:
        bar.update(plan.capacity_appends + plan.appends - len(appended) - len(samples))
        return appended, samples, str(exc)
    return appended, samples, None


def _append_figures(appended: Sequence[CallTotals], samples: Sequence[float]) -> dict[str, Any]:
    """Capacity per appended message (each call appends one turn: 2 messages) and the appends' latency."""
    messages = 2 * len(appended)
    return {
        "messages_per_call": 2,
        "write_units_per_message": sum(t.write_units for t in appended) / messages,
        "read_units_per_message": sum(t.read_units for t in appended) / messages,
        "bytes_written_per_message": sum(t.bytes_written for t in appended) / messages,
        "bytes_read_per_message": sum(t.bytes_read for t in appended) / messages,
        "calls": _calls_per_operation(appended),
        "latency_ms": _latency(samples) if samples else None,
        "per_call": [
            {"read_units": t.read_units, "write_units": t.write_units, "bytes_written": t.bytes_written}
            for t in appended
        ],
    }


def _steps_per_scenario(plan: Plan) -> int:
    return 1 + len(LASTN) * (1 + plan.reads) + plan.capacity_appends + plan.appends


def _langchain_limit(system: LangChainHistory, turns: Sequence[corpus.Turn]) -> dict[str, Any]:
    """How many messages fit in LangChain's one item, growing the conversation from its first turn: computed
    with the sizing rules, then checked on moto (the item at the limit is stored, the next add_messages fails)."""
    from boto3.dynamodb.types import TypeSerializer

    from chat_memory_dev.bench.capacity import attribute_value_size

    session_id = "langchain-limit"
    serializer = TypeSerializer()
    fixed = len("SessionId") + len(session_id) + len("History") + 3  # the key, the list's name and overhead
    size = fixed
    fitting = 0
    for turn in turns:
        item = _langchain_item(session_id, [turn])
        turn_size = sum(1 + attribute_value_size(serializer.serialize(m)) for m in item["History"])
        if size + turn_size > ITEM_LIMIT_BYTES:
            break
        size += turn_size
        fitting += 1
    result: dict[str, Any] = {"messages": 2 * fitting, "item_bytes": size, "limit_bytes": ITEM_LIMIT_BYTES}
    try:
        system.fill(session_id, turns[:fitting])
    except ItemTooLargeError as exc:
        result.update(confirmed=False, moto="refused the item at the computed limit: " + str(exc))
        return result
    try:
        system.append(session_id, turns[fitting])
    except ItemTooLargeError as exc:
        result.update(confirmed=True, moto=f"the next add_messages (message {2 * fitting + 1}) failed: {exc}")
    else:
        result.update(confirmed=False, moto="moto accepted the next add_messages too")
    return result


def _warm_up(system: System) -> None:
    turn = corpus.new_turns(1, seed=corpus.SEED + 7)[0]
    system.append("warm-up", turn)
    system.window("warm-up", LASTN[0])


def _scenarios(plan: Plan, bar: tqdm[Any]) -> dict[str, Any]:
    import boto3

    from chat_memory_dev.localdb.dynamodb import create_table_from_template
    from chat_memory_dev.localdb.engine import mock_dynamodb

    turns = corpus.conversation()
    appended_turns = corpus.new_turns(plan.capacity_appends + plan.appends)
    results: dict[str, Any] = {name: {} for name in SYSTEMS}
    with _isolated_environment(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="No application metrics to publish")
        _reset_wiring()
        try:
            with mock_dynamodb():
                client = boto3.client("dynamodb")
                create_table_from_template(client, OUR_TABLE)
                client.create_table(
                    TableName=LANGCHAIN_TABLE,
                    AttributeDefinitions=[{"AttributeName": "SessionId", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "SessionId", "KeyType": "HASH"}],
                    BillingMode="PAY_PER_REQUEST",
                )
                ours = ChatMemory(client)
                langchain = LangChainHistory()
                systems: tuple[System, ...] = (ours, langchain)
                bar.set_description("warm-up")
                for system in systems:
                    _warm_up(system)
                for length in plan.lengths:
                    history = corpus.history(turns, length)
                    for system in systems:
                        # The same appended turns for both systems at every length.
                        pool = iter(appended_turns)
                        results[system.name][str(length)] = _scenario(system, length, history, pool, plan, bar)
                bar.set_description("langchain item limit")
                results["langchain_limit"] = _langchain_limit(langchain, turns)
                bar.update(1)
        finally:
            _reset_wiring()
    return results


# ------------------------------------------------------------------------------------------------- cold start


def _cold_start(plan: Plan, bar: tqdm[Any]) -> dict[str, Any]:
    from chat_memory_dev.template import REPO_ROOT

    env = {**os.environ, **_ENVIRONMENT}
    for name in _UNSET:
        env.pop(name, None)
    bar.set_description("cold start")
    return cold_start.measure(plan.cold_runs, env, REPO_ROOT / "events", lambda: bar.update(1))


_PACKAGED: Final = ("AWS::Serverless::Function", "AWS::Serverless::LayerVersion")


def _functions() -> list[str]:
    """Every function and layer `sam build` packages (a function's layers are deployed beside it)."""
    from chat_memory_dev.template import load_template

    resources = load_template().get("Resources", {})
    return [name for name, res in resources.items() if res.get("Type") in _PACKAGED]


def _package_sizes(plan: Plan, bar: tqdm[Any]) -> dict[str, Any]:
    from chat_memory_dev.template import REPO_ROOT

    build = REPO_ROOT / ".aws-sam" / "build"
    sizes: dict[str, Any] = {}
    bar.set_description("package sizes")
    for function in _functions():
        directory = build / function
        if not directory.is_dir():
            sizes[function] = {"built": False, "note": "not built (run make build)"}
            bar.update(1)
            continue
        paths = [directory, *sorted(directory.rglob("*"))]
        files = [p for p in paths if p.is_file() and not p.is_symlink()]
        entry: dict[str, Any] = {
            "built": True,
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
            "disk_bytes": sum(p.lstat().st_blocks * 512 for p in paths),  # what `du -s` counts
            "zip_bytes": None,
        }
        if plan.zip_packages:
            with tempfile.TemporaryDirectory() as tmp:
                archive = Path(tmp) / "function.zip"
                with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                    for path in files:
                        zf.write(path, path.relative_to(directory))
                entry["zip_bytes"] = archive.stat().st_size
        sizes[function] = entry
        bar.update(1)
    return sizes


# -------------------------------------------------------------------------------------------------------- run


def _machine() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    versions: dict[str, str | None] = {}
    for package in ("chat-memory", "moto", "boto3", "langchain-community", "langchain-core"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "packages": versions,
    }


def run(quick: bool, out: Path) -> dict[str, Any]:
    """Run every scenario, write results.md, results.json and the plots to `out`; returns the results."""
    from tqdm import tqdm

    from chat_memory_dev.bench import report

    plan = QUICK if quick else FULL
    functions = _functions()
    total = (
        len(plan.lengths) * len(SYSTEMS) * _steps_per_scenario(plan)
        + 1
        + plan.cold_runs * cold_start.TARGETS
        + len(functions)
    )
    started = time.perf_counter()
    with tqdm(total=total, unit="op", file=sys.stderr, dynamic_ncols=True, leave=True) as bar:
        scenarios = _scenarios(plan, bar)
        cold = _cold_start(plan, bar)
        packages = _package_sizes(plan, bar)
    limit = scenarios.pop("langchain_limit")
    results: dict[str, Any] = {
        "command": "chat-memory bench" + (" --quick" if quick else ""),
        "machine": _machine(),
        "plan": {
            "quick": quick,
            "lengths": list(plan.lengths),
            "lastn": list(LASTN),
            "timed_reads": plan.reads,
            "timed_appends": plan.appends,
            "capacity_appends": plan.capacity_appends,
            "cold_start_runs": plan.cold_runs,
            "seed": corpus.SEED,
        },
        "corpus": _corpus_stats(),
        "systems": scenarios,
        "langchain_limit": limit,
        "cold_start": cold,
        "package_size": packages,
        "retrieval": _retrieval(),
        "elapsed_seconds": round(time.perf_counter() - started, 1),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report.write_plots(results, out)
    (out / "results.md").write_text(report.markdown(results), encoding="utf-8")
    return results


def _retrieval() -> dict[str, Any]:
    from chat_memory_dev.bench.search_cost import retrieval_quality

    return retrieval_quality()


def _corpus_stats() -> dict[str, Any]:
    turns = corpus.conversation()
    users = [len(t.user.encode()) for t in turns]
    assistants = [len(t.assistant.encode()) for t in turns]
    return {
        "conversation_messages": 2 * len(turns),
        "user_bytes": {"mean": round(statistics.mean(users)), "median": statistics.median(users), "max": max(users)},
        "assistant_bytes": {
            "mean": round(statistics.mean(assistants)),
            "median": statistics.median(assistants),
            "max": max(assistants),
        },
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quick",
        action="store_true",
        help="history lengths 10 and 100 only, fewer repetitions (under a minute); with --local: 2,000 messages",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(DEFAULT_OUT), help="folder for results.md, results.json and the plots"
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help=(
            "instead: drive `chat-memory serve` (as `make run` starts it) over HTTP with zep-python: one session "
            "grown to 20,000 messages in chat turns beside 100,000 other messages; fails when a target is missed"
        ),
    )
    parser.add_argument("--url", help="with --local: a running server to drive instead of starting one")
    parser.add_argument("--api-key", help="with --local --url: its API key")


def run_args(args: argparse.Namespace) -> int:
    out: Path = args.out
    if args.local:
        from chat_memory_dev.bench.local import FULL, QUICK, run_local

        local = run_local(QUICK if args.quick else FULL, out, args.url, args.api_key)
        print(f"chat-memory bench --local: results in {out}/local.md")
        print((out / "local.md").read_text(encoding="utf-8"))
        return 0 if local["targets_met"] else 1
    results = run(bool(args.quick), out)
    print(f"chat-memory bench: results in {out}/ ({results['elapsed_seconds']} s)")
    print((out / "results.md").read_text(encoding="utf-8"))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-memory bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run_args(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
