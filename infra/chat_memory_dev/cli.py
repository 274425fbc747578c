"""`chat-memory`: the developer command line (`chat-memory serve`, more subcommands to come)."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Sequence

Command = Callable[[argparse.Namespace], int]


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _serve(args: argparse.Namespace) -> int:
    from chat_memory_dev.server import serve

    # SIGTERM (e.g. from a test harness or a process manager) shuts down like Ctrl-C: cleanup runs.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        serve(args.host, args.port, table_name=args.table, stream_consumers=args.stream_consumers)
    except KeyboardInterrupt:
        print("chat-memory: stopped", file=sys.stderr)
    return 0


def _add_serve(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve the API locally (embedded DynamoDB unless AWS_ENDPOINT_URL_DYNAMODB is set)",
        description=(
            "Serve the API from template.yaml's routes, calling the Lambda handlers in-process. DynamoDB is an "
            "embedded moto server unless AWS_ENDPOINT_URL_DYNAMODB points at one (DynamoDB Local, moto, AWS); "
            "the table is created when missing. The summariser and the purger run from the table's stream as on "
            "AWS (SUMMARY_MODEL_ID in the environment selects a Bedrock model; empty: the offline summariser)."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--table", default=None, help="DynamoDB table name (default: $TABLE_NAME, else chat-memory-local)"
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-memory", description="chat-memory developer tools")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_serve(subparsers)
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
