"""Sample events under events/, for `sam local invoke -e events/<name>.json`: an API Gateway HTTP API (payload
2.0) event per HTTP function and a DynamoDB Streams event for each stream consumer (summariser, embedder, indexer,
purger).

Built by the same code as the local server's events, for requests shaped like zep-python's, with fixed
request ids and times so regenerating gives identical files:

    python -m chat_memory_dev.gen.events           # (re)write events/*.json
    python -m chat_memory_dev.gen.events --check   # exit 1 when a file is missing or out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from chat_memory_dev.local.server import EventOptions, HttpRequest, RouteTable, build_event
from chat_memory_dev.template import REPO_ROOT, http_routes

EVENTS_DIR: Final = REPO_ROOT / "events"
SESSION_ID: Final = "octavia-butler"
DOMAIN: Final = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com"
SOURCE_IP: Final = "203.0.113.10"  # TEST-NET-3: documentation addresses
USER_AGENT: Final = "python-httpx/0.28.1"
API_KEY: Final = "local-dev-key"

# The user's example (seed/zep-memory-docs.txt): messages built as Message(role=..., content=..., metadata=...),
# so no role_type, and metadata only on the third.
HISTORY: Final[tuple[dict[str, Any], ...]] = (
    {"role": "Jane", "content": "Who was Octavia Butler?"},
    {
        "role": "HistoryBot",
        "content": (
            "Octavia Estelle Butler (June 22, 1947 \u2013 February 24, 2006) was an American science fiction author."
        ),
    },
    {"role": "Jane", "content": "Which books of hers were made into movies?", "metadata": {"foo": "bar"}},
)
SESSION_METADATA: Final[dict[str, Any]] = {"topic": "science fiction", "user": {"name": "Jane", "locale": "en-US"}}
STREAM_ARN: Final = (
    "arn:aws:dynamodb:us-east-1:123456789012:table/chat-memory-MemoryTable/stream/2026-01-15T12:00:00.000"
)


def _json_body(value: Any) -> bytes:
    # What httpx sends for `json=`: compact, UTF-8, non-ASCII kept.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _request(method: str, target: str, body: Any = None, *, auth: bool = True) -> HttpRequest:
    raw = b"" if body is None else _json_body(body)
    headers: list[tuple[str, str]] = [
        ("Host", DOMAIN),
        ("Accept", "*/*"),
        ("Accept-Encoding", "gzip, deflate"),
        ("User-Agent", USER_AGENT),
    ]
    if auth:  # ZepClient sends the key on every call but the health check
        headers.append(("Authorization", f"Bearer {API_KEY}"))
    if raw:
        headers += [("Content-Length", str(len(raw))), ("Content-Type", "application/json")]
    return HttpRequest(
        method=method, target=target, headers=headers, body=raw, source_ip=SOURCE_IP, server_port=443, scheme="https"
    )


def example_requests() -> dict[str, HttpRequest]:
    """One request per function, keyed by the handler module's name (the event file's name)."""
    return {
        "health": _request("GET", "/healthz", auth=False),
        "writes": _request("POST", "/api/v2/sessions", {"session_id": SESSION_ID, "metadata": SESSION_METADATA}),
        "add_memory": _request("POST", f"/api/v2/sessions/{SESSION_ID}/memory", {"messages": list(HISTORY)}),
        "reads": _request("GET", f"/api/v2/sessions/{SESSION_ID}/memory?lastn=6&memoryType=perpetual"),
        # An rc6 call this API does not serve: the $default route's function answers it.
        "not_served": _request("GET", f"/api/v2/sessions/{SESSION_ID}/facts"),
        # A browser opening the console: the page needs no key (its API calls send it).
        "console": _request("GET", "/console", auth=False),
    }


def build_example_events(routes: RouteTable | None = None) -> dict[str, dict[str, Any]]:
    """The events, routed through template.yaml's routes (a request no route serves is an error)."""
    table = routes or RouteTable(http_routes())
    events: dict[str, dict[str, Any]] = {}
    for i, (name, request) in enumerate(example_requests().items()):
        compiled, params = table.match(request.method, request.target.partition("?")[0])
        module = compiled.route.handler.rsplit(".", 2)[-2]
        if module != name:
            raise ValueError(f"{request.method} {request.target} is served by {compiled.route.handler}, not {name}")
        options = EventOptions(
            request_id=f"00000000-0000-4000-8000-{i + 1:012d}",
            time=datetime(2026, 1, 15, 12, 0, i, tzinfo=UTC),
            trace_id=f"Root=1-6968d7c0-{i + 1:024x}",
        )
        event = build_event(request, compiled.route_key, params, options)
        if compiled.route.authorizer is not None:  # what API Gateway adds once the authorizer accepted the key
            event["requestContext"]["authorizer"] = {"lambda": {"tenant": "default", "key_id": "0123456789abcdef"}}
        events[name] = event
    return events


def summariser_event() -> dict[str, Any]:
    """The stream event the summariser receives for the add_memory example's three message inserts."""
    pk = f"T#default#S#{SESSION_ID}"
    stream_arn = STREAM_ARN
    records = []
    for i, message in enumerate(HISTORY):
        ts = 1_768_478_400_000_000 + i  # 2026-01-15T12:00:00Z, one microsecond apart
        keys = {"PK": {"S": pk}, "SK": {"S": f"MSG#{ts:016d}"}}
        image: dict[str, Any] = {
            **keys,
            "MsgUuid": {"S": f"00000000-0000-4000-9000-{i + 1:012d}"},
            "role": {"S": message["role"]},
            "role_type": {"S": "norole"},
            "content": {"S": message["content"]},
            "token_count": {"N": "10"},
        }
        if "metadata" in message:
            image["metadata"] = {"S": json.dumps(message["metadata"], separators=(",", ":"))}
        records.append(
            {
                "eventID": f"{i + 1:032x}",
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1768478400,
                    "Keys": keys,
                    "NewImage": image,
                    "SequenceNumber": f"{100000000000000000000 + i}",
                    "SizeBytes": 256,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": stream_arn,
            }
        )
    return {"Records": records}


def purger_event() -> dict[str, Any]:
    """The stream event the purger receives when the sessions example's session is deleted
    (`DELETE /api/v2/sessions/octavia-butler/memory` right after `POST /api/v2/sessions`): the session item
    rewritten as a tombstone (`deleted`, version 2, out of the listing index), which is what its filter lets through.

    No message was written, so `last_ts` (the newest message timestamp ever reserved) is just before the session's
    creation (`first_ts`): the purge removes the tombstone and leaves its receipt (reason `delete`). After messages,
    `last_ts` bounds the messages and summaries it deletes."""
    keys = {"PK": {"S": f"T#default#S#{SESSION_ID}"}, "SK": {"S": "SESSION"}}
    created_ts = 1_768_478_401_000_000  # 2026-01-15T12:00:01Z, the sessions example's request time
    live: dict[str, Any] = {
        **keys,
        "tenant": {"S": "default"},
        "session_id": {"S": SESSION_ID},
        "uuid": {"S": "00000000-0000-4000-a000-000000000001"},
        "created_ts": {"N": str(created_ts)},
        "updated_ts": {"N": str(created_ts)},
        "version": {"N": "1"},
        "last_ts": {"N": str(created_ts - 1)},
        "first_ts": {"N": str(created_ts)},
        "message_count": {"N": "0"},
        "metadata": {"S": json.dumps(SESSION_METADATA, separators=(",", ":"), ensure_ascii=False)},
        "GSI1PK": {"S": "T#default#SESSIONS"},
        "GSI1SK": {"S": f"{created_ts:016d}#{SESSION_ID}"},
    }
    tombstone = {k: v for k, v in live.items() if not k.startswith("GSI")}
    deleted_ts = 1_768_478_402_000_000  # the DELETE, a second later
    tombstone.update(
        {
            "version": {"N": "2"},
            "deleted": {"BOOL": True},
            "deleted_reason": {"S": "delete"},
            "deleted_ts": {"N": str(deleted_ts)},
        }
    )
    record = {
        "eventID": f"{4:032x}",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1768478402,
            "Keys": keys,
            "NewImage": tombstone,
            "OldImage": live,
            "SequenceNumber": "100000000000000000010",
            "SizeBytes": 512,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": STREAM_ARN,
    }
    return {"Records": [record]}


def all_example_events() -> dict[str, dict[str, Any]]:
    # The embedder (semantic search) gets the same message inserts as the summariser: messages without an embedding;
    # so does the indexer (search's term index: message inserts and changes).
    return {
        **build_example_events(),
        "summariser": summariser_event(),
        "embedder": summariser_event(),
        "indexer": summariser_event(),
        "purger": purger_event(),
    }


def _render(event: dict[str, Any]) -> str:
    return json.dumps(event, indent=2, ensure_ascii=False) + "\n"


def write_event_files(directory: Path = EVENTS_DIR) -> list[Path]:
    """Write events/<name>.json for every example; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, event in all_example_events().items():
        path = directory / f"{name}.json"
        path.write_text(_render(event), encoding="utf-8")
        written.append(path)
    return written


def stale_event_files(directory: Path = EVENTS_DIR) -> list[Path]:
    """Files that are missing or differ from what write_event_files() would write."""
    stale: list[Path] = []
    for name, event in all_example_events().items():
        path = directory / f"{name}.json"
        if not path.exists() or path.read_text(encoding="utf-8") != _render(event):
            stale.append(path)
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_memory_dev.gen.events", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check that the files are up to date")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_event_files()
        for path in stale:
            print(f"out of date: {path.relative_to(REPO_ROOT)} (run python -m chat_memory_dev.gen.events)")
        return 1 if stale else 0
    for path in write_event_files():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
