"""A data folder for the embedded DynamoDB, so that `chat-memory serve` finds its tables again after a restart.

The folder (format 1) holds:

- `FORMAT`: `{"format": 1, "written_by": "chat-memory X"}`; a folder of another format is refused with a message.
- `snapshot.jsonl`: the whole store at one moment: a header `{"format": 1, "generation": G}`, then each table's
  definition `{"table": {...}}` followed by its items `{"item": [table, {attribute: value}]}` (DynamoDB JSON).
- `journal-G.jsonl`: every DynamoDB call that changed something since that snapshot, one line per call: the new
  value of each item it touched (or its deletion) and any table it created, changed or deleted. A line is handed to
  the operating system before the call is answered, so a process that is killed (even `kill -9`) loses nothing it
  acknowledged; the file is flushed to the disk every `FSYNC_INTERVAL_S` seconds, so a power loss or an operating
  system crash loses at most that much.
- `lock`: held (flock) by the server using the folder; a second server on the same folder is refused.

At start-up the snapshot is loaded (no stream records: what it holds was streamed before) and the journal is
replayed (with stream records, so the stream consumers see again what they may have missed: they are idempotent).
A clean stop writes a new snapshot and starts an empty journal (`compact()`), once the consumers are idle.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from chat_memory_dev.localdb import engine
from chat_memory_dev.localdb.storage import TableItems

FORMAT: Final = 1
FSYNC_INTERVAL_S: Final = 1.0
FORMAT_FILE: Final = "FORMAT"
SNAPSHOT_FILE: Final = "snapshot.jsonl"
LOCK_FILE: Final = "lock"
API_KEY_FILE: Final = "api-key"


class DataDirError(RuntimeError):
    """The data folder cannot be used (the message says why and what to do)."""


@dataclass
class LoadReport:
    tables: int = 0
    items: int = 0
    journal_calls: int = 0
    torn_tail: bool = False


def _backends() -> Iterator[Any]:
    from moto.dynamodb.models import dynamodb_backends

    for regions in list(dynamodb_backends.values()):
        yield from list(regions.values())


def _backend(account: str, region: str) -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[account][region]


# ------------------------------------------------------------------------------------------- tables and items


def table_definition(backend: Any, table: Any) -> dict[str, Any]:
    """What re-creates `table` as it is (keys, indexes, stream, billing, TTL), in CreateTable's terms."""
    definition: dict[str, Any] = {
        "Backend": [backend.account_id, backend.region_name],
        "TableName": table.name,
        "KeySchema": table.schema,
        "AttributeDefinitions": table.attr,
        "BillingMode": table.billing_mode,
        "LocalSecondaryIndexes": [
            {k: i.describe()[k] for k in ("IndexName", "KeySchema", "Projection")} for i in table.indexes
        ],
        "GlobalSecondaryIndexes": [
            {k: i.describe()[k] for k in ("IndexName", "KeySchema", "Projection")} for i in table.global_indexes
        ],
        "TimeToLive": dict(table.ttl),
    }
    if table.billing_mode == "PROVISIONED":
        throughput = table.throughput
        definition["ProvisionedThroughput"] = {
            "ReadCapacityUnits": throughput["ReadCapacityUnits"],
            "WriteCapacityUnits": throughput["WriteCapacityUnits"],
        }
        for index in definition["GlobalSecondaryIndexes"]:
            index["ProvisionedThroughput"] = dict(definition["ProvisionedThroughput"])
    spec = table.stream_specification or {}
    if spec.get("StreamEnabled"):
        definition["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": spec["StreamViewType"]}
    return definition


def define_table(definition: dict[str, Any]) -> Any:
    """Create the table of a definition, or re-create it when it differs (its items kept); returns the table."""
    backend = _backend(*definition["Backend"])
    name = definition["TableName"]
    existing = backend.tables.get(name)
    if existing is not None and table_definition(backend, existing) == definition:
        return existing
    kept = list(_stored_items(existing)) if existing is not None else []
    if existing is not None:
        backend.delete_table(name)
    table = backend.create_table(
        name,
        schema=definition["KeySchema"],
        throughput=definition.get("ProvisionedThroughput"),
        attr=definition["AttributeDefinitions"],
        global_indexes=definition["GlobalSecondaryIndexes"],
        indexes=definition["LocalSecondaryIndexes"],
        streams=definition.get("StreamSpecification"),
        billing_mode=definition["BillingMode"],
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    table.ttl = dict(definition["TimeToLive"])
    for attrs in kept:
        store_item(table, attrs, stream=False)
    return table


def _stored_items(table: Any) -> Iterator[dict[str, Any]]:
    for held in list(dict.values(table.items)):
        if table.range_key_attr is None:
            yield held.to_json()["Attributes"]
        else:
            for item in list(dict.values(held)):
                yield item.to_json()["Attributes"]


def store_item(table: Any, attrs: dict[str, Any], *, stream: bool) -> None:
    """Put an item as it was stored; with `stream`, as a write (a stream record), else silently (a snapshot)."""
    if stream:
        table.put_item(attrs, overwrite=True)
        return
    from moto.dynamodb.models.dynamo_type import DynamoType, Item

    hash_key = DynamoType(attrs[table.hash_key_attr])
    range_key = DynamoType(attrs[table.range_key_attr]) if table.range_key_attr else None
    item = Item(hash_key, range_key, attrs)
    if range_key is None:
        table.items[hash_key] = item
    else:
        table.items[hash_key][range_key] = item


def _dumps(value: Any) -> str:
    """JSON of DynamoDB JSON values; binaries (bytes when moto runs in-process) as their base64 text, as on the wire."""
    return json.dumps(value, separators=(",", ":"), default=_binary_as_base64)


def _binary_as_base64(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not a DynamoDB JSON value")


def _key_json(table: Any, hash_key: Any, range_key: Any) -> dict[str, Any]:
    key = {table.hash_key_attr: hash_key.to_json()}
    if range_key is not None:
        key[table.range_key_attr] = range_key.to_json()
    return key


# -------------------------------------------------------------------------------------------------- the folder


class DataDir:
    """An open data folder: `load()` it into moto, then `journal()` every change until `close()`."""

    def __init__(self, path: Path, version: str) -> None:
        self.path = path
        self.version = version
        self.generation = 0
        self._lock_file: IO[str] | None = None
        self._journal: IO[str] | None = None
        self._dirty = threading.Event()
        self._closing = threading.Event()
        self._fsync_thread: threading.Thread | None = None
        self.changed_since_snapshot = False

    # -- opening

    @classmethod
    def open(cls, path: Path, version: str) -> DataDir:
        path = path.expanduser().resolve()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataDirError(f"cannot use {path} as the data folder: {exc.strerror}") from exc
        data = cls(path, version)
        data._take_lock()
        try:
            data._check_format()
        except BaseException:
            data._release_lock()
            raise
        return data

    def _take_lock(self) -> None:
        handle = (self.path / LOCK_FILE).open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise DataDirError(
                f"the data folder {self.path} is in use by another chat-memory serve; stop it, or give this one "
                "another --data-dir (or --in-memory)"
            ) from None
        self._lock_file = handle

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _check_format(self) -> None:
        marker = self.path / FORMAT_FILE
        if not marker.exists():
            if any(p.name not in (LOCK_FILE,) for p in self.path.iterdir()):
                raise DataDirError(
                    f"{self.path} is not a chat-memory data folder (it has no {FORMAT_FILE} file but is not empty): "
                    "give an empty or new folder as --data-dir"
                )
            _write_atomically(marker, json.dumps({"format": FORMAT, "written_by": f"chat-memory {self.version}"}))
            return
        try:
            found = json.loads(marker.read_text())["format"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DataDirError(f"{marker} is damaged ({exc}); move the folder away to start afresh") from exc
        if found != FORMAT:
            raise DataDirError(
                f"the data folder {self.path} was written in format {found} by another version of chat-memory; this "
                f"version reads format {FORMAT}. Use that version to export it, or move the folder away to start "
                "afresh (--data-dir elsewhere, or --in-memory)"
            )

    # -- loading

    def load(self) -> LoadReport:
        """Load the snapshot and replay the journal into moto's DynamoDB (the engine must be installed)."""
        report = LoadReport()
        with engine.LOCK, engine.recording(None):
            self._load_snapshot(report)
            self._replay_journal(report)
        return report

    def _load_snapshot(self, report: LoadReport) -> None:
        snapshot = self.path / SNAPSHOT_FILE
        if not snapshot.exists():
            return
        table: Any = None
        with snapshot.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                entry = self._parse(line, snapshot, number)
                if number == 1:
                    if entry.get("format") != FORMAT:
                        raise DataDirError(f"{snapshot} is in format {entry.get('format')}, not {FORMAT}")
                    self.generation = int(entry["generation"])
                elif "table" in entry:
                    table = define_table(entry["table"])
                    report.tables += 1
                else:
                    name, attrs = entry["item"]
                    if table is None or table.name != name:
                        raise DataDirError(f"{snapshot} line {number}: an item of {name} outside its table")
                    store_item(table, attrs, stream=False)
                    report.items += 1

    def _replay_journal(self, report: LoadReport) -> None:
        journal = self._journal_path()
        if not journal.exists():
            return
        with journal.open(encoding="utf-8", newline="\n") as lines:
            text = lines.read()
        rows = text.split("\n")
        complete, tail = rows[:-1], rows[-1]
        if tail:  # the last line was being written when the process stopped: that call was never answered
            report.torn_tail = True
            with journal.open("r+", encoding="utf-8") as handle:
                handle.truncate(len(text.encode("utf-8")) - len(tail.encode("utf-8")))
        for number, line in enumerate(complete, 1):
            self._apply(self._parse(line, journal, number))
            report.journal_calls += 1
        self.changed_since_snapshot = bool(complete)

    @staticmethod
    def _parse(line: str, path: Path, number: int) -> dict[str, Any]:
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise DataDirError(
                f"{path} line {number} is damaged ({exc}); move the data folder away to start afresh"
            ) from exc
        return entry

    @staticmethod
    def _apply(entry: dict[str, Any]) -> None:
        backend = _backend(*entry["b"])
        for op in entry["ops"]:
            kind = op[0]
            if kind == "table":
                define_table(op[1])
            elif kind == "drop":
                if op[1] in backend.tables:
                    backend.delete_table(op[1])
            elif kind == "put":
                store_item(backend.get_table(op[1]), op[2], stream=True)
            elif kind == "del":
                table = backend.get_table(op[1])
                hash_key, range_key = backend.get_keys_value(table, op[2])
                table.delete_item(hash_key, range_key)
            else:
                raise DataDirError(f"unknown journal entry {kind!r}")

    # -- journaling

    def _journal_path(self) -> Path:
        return self.path / f"journal-{self.generation}.jsonl"

    def start_journal(self) -> None:
        """From now on, every change is written to the journal before it is acknowledged."""
        self._journal = self._journal_path().open("a", encoding="utf-8", newline="\n")
        engine.add_commit_hook(self._record)
        self._fsync_thread = threading.Thread(target=self._fsync_loop, name="chat-memory-data-fsync", daemon=True)
        self._fsync_thread.start()

    def _record(self, commit: engine.Commit) -> None:
        backend = commit.backend
        ops: list[list[Any]] = []
        if commit.action in engine.SCHEMA_ACTIONS:
            name = commit.params.get("TableName")
            table = backend.tables.get(name)
            ops.append(["drop", name] if table is None else ["table", table_definition(backend, table)])
        for items, hash_key, range_key in commit.touched:
            table = items.table
            if backend.tables.get(table.name) is not table:
                continue  # a table deleted in this call
            current = items.current(hash_key, range_key)
            if current is None:
                ops.append(["del", table.name, _key_json(table, hash_key, range_key)])
            else:
                ops.append(["put", table.name, current.to_json()["Attributes"]])
        if not ops or self._journal is None:
            return
        line = _dumps({"b": [backend.account_id, backend.region_name], "ops": ops})
        self._journal.write(line + "\n")
        self._journal.flush()  # to the operating system: survives the process
        self.changed_since_snapshot = True
        self._dirty.set()

    def _fsync_loop(self) -> None:
        while not self._closing.is_set():
            self._dirty.wait()
            self._closing.wait(FSYNC_INTERVAL_S)
            self._dirty.clear()
            journal = self._journal
            if journal is not None:
                with contextlib.suppress(OSError, ValueError):
                    os.fsync(journal.fileno())

    # -- compaction and closing

    def compact(self) -> int:
        """Write a new snapshot of everything and start an empty journal; returns the number of items written."""
        with engine.LOCK:
            written = 0
            generation = self.generation + 1
            temporary = self.path / f"{SNAPSHOT_FILE}.tmp"
            with temporary.open("w", encoding="utf-8", newline="\n") as out:
                out.write(_dumps({"format": FORMAT, "generation": generation}) + "\n")
                for backend in _backends():
                    for table in list(backend.tables.values()):
                        out.write(_dumps({"table": table_definition(backend, table)}) + "\n")
                        for attrs in _stored_items(table):
                            out.write(_dumps({"item": [table.name, attrs]}) + "\n")
                            written += 1
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.path / SNAPSHOT_FILE)
            _fsync_dir(self.path)
            old_journal, self.generation = self._journal_path(), generation
            if self._journal is not None:
                self._journal.close()
                self._journal = self._journal_path().open("a", encoding="utf-8", newline="\n")
            old_journal.unlink(missing_ok=True)
            for stale in self.path.glob("journal-*.jsonl"):
                if stale != self._journal_path():
                    stale.unlink(missing_ok=True)
            self.changed_since_snapshot = False
            return written

    def close(self, *, compact: bool) -> None:
        """Stop journaling (after a last snapshot when `compact` and something changed) and release the folder."""
        engine.remove_commit_hook(self._record)
        if compact and self.changed_since_snapshot:
            self.compact()
        self._closing.set()
        self._dirty.set()
        if self._fsync_thread is not None:
            self._fsync_thread.join(timeout=5)
        with engine.LOCK:
            if self._journal is not None:
                self._journal.flush()
                os.fsync(self._journal.fileno())
                self._journal.close()
                self._journal = None
        self._release_lock()

    # -- the local API key

    def saved_api_key(self) -> str | None:
        return self.saved_secret(API_KEY_FILE)

    def save_api_key(self, key: str) -> None:
        self.save_secret(API_KEY_FILE, key)

    def saved_secret(self, name: str) -> str | None:
        """A secret kept in the folder (the API key, the page-token key), or None."""
        path = self.path / name
        if not path.exists():
            return None
        return path.read_text().strip() or None

    def save_secret(self, name: str, value: str) -> None:
        """Readable by the owner only."""
        fd = os.open(self.path / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["API_KEY_FILE", "FORMAT", "DataDir", "DataDirError", "LoadReport", "TableItems", "table_definition"]
