"""`chat-memory`: the developer command line (`chat-memory serve`, `keys ...`, `export`, `import`, `bench`, `load`,
`fuzz`, `screenshots`)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore

from chat_memory_dev.cli_aws import (
    CliError,
    Command,
    reported,
    resolve_table,
    stack_table_name,
    table_and_client,
    table_arguments,
)

__all__ = ["CliError", "build_parser", "main", "resolve_table", "stack_table_name"]

MAX_WORKERS: Final = 256  # `serve --workers`: each worker is a Python process (~60 MB once warm)
DEFAULT_DATA_DIR: Final = ".chat-memory"  # `serve`'s data folder, relative to where it runs (ignored by git)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from chat_memory_dev.local.server import LocalSetupError, serve

    # SIGTERM (e.g. from a test harness or a process manager) shuts down like Ctrl-C: cleanup runs.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    data_dir = _data_dir(args)
    try:
        serve(
            args.host,
            args.port,
            table_name=args.table,
            stream_consumers=args.stream_consumers,
            workers=args.workers,
            data_dir=Path(data_dir) if data_dir is not None else None,
        )
    except KeyboardInterrupt:
        print("chat-memory: stopped", file=sys.stderr)
    except LocalSetupError as exc:
        print(f"chat-memory: {exc}", file=sys.stderr)
        return 2
    return 0


def _data_dir(args: argparse.Namespace) -> str | None:
    """--data-dir, or the default data folder for the embedded DynamoDB; None for --in-memory or a given endpoint."""
    from chat_memory_dev.localdb.dynamodb import ENDPOINT_ENV

    if args.in_memory:
        return None
    if args.data_dir is None and os.environ.get(ENDPOINT_ENV, "").strip():
        return None  # the data lives in that DynamoDB
    return args.data_dir or DEFAULT_DATA_DIR


def _worker_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if not 0 <= count <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"expected a number of worker processes from 0 to {MAX_WORKERS}, got {text!r}")
    return count


def _add_serve(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from chat_memory_dev.local.workers import DEFAULT_WORKERS

    parser = subparsers.add_parser(
        "serve",
        help="serve the API locally (embedded DynamoDB unless AWS_ENDPOINT_URL_DYNAMODB is set)",
        description=(
            "Serve the API from template.yaml's routes, calling the Lambda handlers in worker processes, one "
            "invocation per process at a time as Lambda runs them (--workers). DynamoDB is an "
            "embedded moto server, kept in a data folder (--data-dir; --in-memory to keep nothing), unless "
            "AWS_ENDPOINT_URL_DYNAMODB points at one (DynamoDB Local, moto, AWS); "
            "the table is created when missing. The summariser and the purger run from the table's stream as on "
            "AWS (SUMMARY_MODEL_ID in the environment selects a Bedrock model; empty: the offline summariser). "
            "Every route but /healthz needs an API key, checked by the template's authorizer: CHAT_MEMORY_API_KEY "
            "is accepted for the `default` tenant; unset, a key is created, kept in the data folder and printed at "
            "every start."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--table", default=None, help="DynamoDB table name (default: $TABLE_NAME, else chat-memory-local)"
    )
    parser.add_argument(
        "--workers",
        type=_worker_count,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=(
            "run the handlers (routes, authorizer, stream consumers) in N worker processes, each one invocation at "
            "a time like a Lambda execution environment, so N requests run at once and race in DynamoDB; a worker "
            "that crashes is replaced. 0: in this process, one at a time (default: %(default)s). Many writers on one "
            "session against the embedded moto may need WRITE_RETRY_BUDGET_SECONDS=20 (moto commits slowly)"
        ),
    )
    storage = parser.add_mutually_exclusive_group()
    storage.add_argument(
        "--data-dir",
        metavar="PATH",
        help=(
            f"folder where the embedded DynamoDB keeps its tables, found again at the next start (default: "
            f"{DEFAULT_DATA_DIR}); every acknowledged write is in it, also after a kill -9"
        ),
    )
    storage.add_argument(
        "--in-memory", action="store_true", help="keep the embedded DynamoDB in memory only: lost when the server stops"
    )
    parser.add_argument(
        "--no-stream-consumers",
        "--no-summariser",  # its name before the purger existed
        dest="stream_consumers",
        action="store_false",
        help=(
            "do not drive template.yaml's stream consumers (the summariser and the purger) from the table's "
            "stream: no summaries, and deleted sessions and users stay in the table (unreadable)"
        ),
    )
    parser.set_defaults(command=_serve)


# -------------------------------------------------------------------------------------------------------- keys


def _key_store(args: argparse.Namespace) -> ApiKeyStore:
    from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore

    table, client = table_and_client(args)
    return ApiKeyStore(table, client=client)


def _keys_create(args: argparse.Namespace) -> int:
    info, secret = _key_store(args).create(args.tenant, args.name)
    print(f"API key (shown only now, store it safely): {secret}")
    print(f"key id: {info.key_id}  tenant: {info.tenant}  name: {info.name}  created: {info.created_at}")
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    rows = [("KEY_ID", "TENANT", "NAME", "CREATED_AT", "REVOKED")]
    for info in sorted(_key_store(args).list_keys(), key=lambda i: (i.tenant, i.created_at, i.key_id)):
        rows.append((info.key_id, info.tenant, info.name, info.created_at, "yes" if info.revoked else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    if not _key_store(args).revoke(args.key_id):
        raise CliError(f"no API key has the id {args.key_id} (see `chat-memory keys list`)")
    print(f"revoked {args.key_id}: refused once the authorizer's cached answer expires (AuthorizerCacheSeconds)")
    return 0


def _keys_retention(args: argparse.Namespace) -> int:
    from chat_memory.adapters.dynamodb.tenant_settings import TenantSettingsStore

    table, client = table_and_client(args)
    settings = TenantSettingsStore(table, client=client)
    days = None if args.default else args.days
    settings.set_retention_days(args.tenant, days)
    if days is None:
        print(f"tenant {args.tenant}: the deployment's retention period (RetentionDays)")
    else:
        kept = "kept for ever" if days == 0 else f"deleted {days} days after their last message"
        print(f"tenant {args.tenant}: sessions without their own period are {kept}")
    print("applies to each session at its next write, once the authorizer's cached answers expire")
    return 0


def _retention_days(text: str) -> int:
    from chat_memory.domain.retention import MAX_RETENTION_DAYS, is_retention_days

    days = int(text) if text.isascii() and text.isdigit() else None
    if not is_retention_days(days):
        raise argparse.ArgumentTypeError(f"a whole number of days from 0 (for ever) to {MAX_RETENTION_DAYS}")
    return int(text)


def _keys(command: Command) -> Command:
    return reported("keys", command)


def _add_keys(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    common = table_arguments()

    parser = subparsers.add_parser(
        "keys",
        help="create, list and revoke API keys, set tenants' retention (a deployed stack's table, or a local one)",
        description=(
            "Manage API keys in a chat-memory table: a deployed stack's (standard AWS credentials and region) or "
            "a local one (AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:PORT). Keys are stored as their SHA-256 "
            "only: a key is shown once, when it is created."
        ),
    )
    keys = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    create = keys.add_parser("create", parents=[common], help="create a key for a tenant and print it once")
    create.add_argument("--tenant", required=True, help="the tenant whose data the key gives access to")
    create.add_argument("--name", required=True, help="what the key is for (shown in listings)")
    create.set_defaults(command=_keys(_keys_create))
    listing = keys.add_parser("list", parents=[common], help="list keys: id, tenant, name, created, revoked")
    listing.set_defaults(command=_keys(_keys_list))
    revoke = keys.add_parser("revoke", parents=[common], help="revoke a key by its id")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id, from `keys create` or `keys list`")
    revoke.set_defaults(command=_keys(_keys_revoke))
    retention = keys.add_parser(
        "retention", parents=[common], help="set a tenant's retention period (sessions deleted N days after)"
    )
    retention.add_argument("--tenant", required=True, help="the tenant whose retention period to set")
    period = retention.add_mutually_exclusive_group(required=True)
    period.add_argument("--days", type=_retention_days, help="days after a session's last message (0: keep for ever)")
    period.add_argument("--default", action="store_true", help="use the deployment's RetentionDays again")
    retention.set_defaults(command=_keys(_keys_retention))


def _add_dlq(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from chat_memory_dev.ops.dlq_command import add_dlq

    add_dlq(subparsers, lambda command: reported("dlq", command))


# ------------------------------------------------------------------------------------------------------- bench


def _bench(args: argparse.Namespace) -> int:
    from chat_memory_dev.bench.runner import run_args

    return run_args(args)


def _add_bench(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from chat_memory_dev.bench.runner import add_arguments

    parser = subparsers.add_parser(
        "bench",
        help="benchmark against LangChain's DynamoDBChatMessageHistory (capacity units, calls, latency, cold start)",
        description=(
            "Run both systems on one in-process moto DynamoDB with the same deterministic conversation, at "
            "history lengths 10 to 10,000 (--quick: 10 and 100): read units per window read, write units per "
            "appended message, bytes read, DynamoDB calls, in-process latency, LangChain's 400 KB limit, cold "
            "starts and package sizes. Writes results.md, results.json and PNG plots to --out."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(command=_bench)


# -------------------------------------------------------------------------------------------------------- load


def _load(args: argparse.Namespace) -> int:
    from chat_memory_dev.qa.load import run_args

    return run_args(args)


def _add_load(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from chat_memory_dev.qa.load import add_arguments

    parser = subparsers.add_parser(
        "load",
        help="bounded HTTP load (adds and reads over many sessions), then check every acknowledged message is stored",
        description=(
            "Users (threads with keep-alive connections) add 1-5 messages (client uuids, contents unique to the "
            "run) or read memory and messages over many sessions, for --duration seconds or --requests requests. "
            "Then every touched session is listed and checked: acknowledged messages lost, duplicated or out of "
            "each user's order. Starts its own `chat-memory serve` unless --url is given. Prints a table, writes "
            "JSON to --out; exit status 1 on any error or lost, duplicated or reordered message."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(command=_load)


# -------------------------------------------------------------------------------------------------------- fuzz


def _fuzz(args: argparse.Namespace) -> int:
    from chat_memory_dev.qa.fuzz import run_args

    return run_args(args)


def _add_fuzz(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from chat_memory_dev.qa.fuzz import add_arguments

    parser = subparsers.add_parser(
        "fuzz",
        help="schemathesis against infra/openapi.json and chat-memory serve: no 5xx, every answer as documented",
        description=(
            "Generated requests (valid, invalid, stateful sequences) from the OpenAPI document against "
            "`chat-memory serve` (started here unless --url is given); every answer checked against the document."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(command=_fuzz)


# ------------------------------------------------------------------------------------------------- screenshots


def _screenshots(args: argparse.Namespace) -> int:
    from chat_memory_dev.browser.screenshots import run_args

    return run_args(args)


def _add_screenshots(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from chat_memory_dev.browser.screenshots import add_arguments

    parser = subparsers.add_parser(
        "screenshots",
        help="the console's main views as PNGs (docs/console-*.png), in headless Chromium on chat-memory serve",
        description=(
            "Starts `chat-memory serve` with demo data (the README's example in a session of the user Jane, a "
            "150-message conversation and its summary, a few more sessions) and takes the console's main views "
            "at 1280 and 390 pixels wide. Needs /usr/bin/chromium and /usr/bin/chromedriver (`make browser`)."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(command=_screenshots)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-memory", description="chat-memory developer tools")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_serve(subparsers)
    _add_keys(subparsers)
    _add_dlq(subparsers)
    from chat_memory_dev.transfer.commands import add_export, add_import

    add_export(subparsers)
    add_import(subparsers)
    _add_bench(subparsers)
    _add_load(subparsers)
    _add_fuzz(subparsers)
    _add_screenshots(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    command: Command = args.command
    try:
        return command(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
