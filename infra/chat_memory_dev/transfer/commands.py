"""The `export` and `import` subcommands: arguments, the table and its client, files or stdin/stdout."""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from chat_memory_dev.cli_aws import CliError, reported, table_and_client, table_arguments

if TYPE_CHECKING:  # the rest is imported when a command runs: `chat-memory --help` stays quick
    from chat_memory.adapters.dynamodb.table import Table
    from chat_memory_dev.transfer.export import Exporter, Totals, Writer
    from chat_memory_dev.transfer.importer import Numbered
    from chat_memory_dev.transfer.progress import Progress

RETRY_BUDGET_SECONDS = 60.0  # how long one batch keeps retrying unprocessed items (throttling) before giving up


def _table(args: argparse.Namespace) -> Table:
    from chat_memory.adapters.dynamodb.table import Table

    name, client = table_and_client(args)
    return Table(name, client, retry_budget_seconds=RETRY_BUDGET_SECONDS)


def _progress(args: argparse.Namespace, label: str, total_bytes: int | None = None) -> Progress:
    from chat_memory_dev.transfer.progress import Progress

    return Progress(label, enabled=args.progress or sys.stderr.isatty(), total_bytes=total_bytes)


def _utf8(stream: TextIO) -> TextIO:
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8")
    return stream


def _summary(label: str, totals: Totals, extra: str = "") -> None:
    t = totals
    print(f"chat-memory {label}: {t.users} users, {t.sessions} sessions, {t.messages} messages{extra}", file=sys.stderr)


# -- export -------------------------------------------------------------------------------------------------------


def _export(args: argparse.Namespace) -> int:
    if args.resume and not args.output:
        raise CliError("--resume continues the export in a file: give it with -o FILE")
    if args.resume and args.session:
        raise CliError("--resume continues an export of the whole tenant, not of one --session")
    from chat_memory_dev.transfer.export import Exporter, Writer

    exporter = Exporter(_table(args), args.tenant)
    progress = _progress(args, "export")
    if not args.output:
        try:
            totals = _run_export(exporter, Writer(_utf8(sys.stdout), progress), args.session)
        except BrokenPipeError:  # the reader went away (`| head`): stop, and no second error at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise CliError("the output was closed before the export ended") from None
    else:
        totals = _export_to_file(exporter, Path(args.output), progress, args.session, resume=args.resume)
    _summary("export", totals)
    return 0


def _run_export(exporter: Exporter, writer: Writer, session_id: str | None) -> Totals:
    from chat_memory_dev.transfer.export import export_session, export_tenant

    return export_session(exporter, writer, session_id) if session_id else export_tenant(exporter, writer)


def _export_to_file(
    exporter: Exporter, path: Path, progress: Progress, session_id: str | None, *, resume: bool
) -> Totals:
    from chat_memory_dev.transfer.export import Writer, export_tenant
    from chat_memory_dev.transfer.resume import resume_point

    point = resume_point(path, exporter.tenant) if resume and path.exists() else None
    if point is None:
        with path.open("w", encoding="utf-8", newline="\n") as out:
            return _run_export(exporter, Writer(out, progress), session_id)
    with path.open("r+b") as raw:
        raw.truncate(point.offset)  # what follows the last complete session goes
    with path.open("a", encoding="utf-8", newline="\n") as out:
        print(f"chat-memory export: resuming after {point.totals.sessions} complete sessions", file=sys.stderr)
        return export_tenant(exporter, Writer(out, progress, point.totals), point.after, fresh=False)


def add_export(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "export",
        parents=[table_arguments()],
        help="export a tenant's users, sessions, messages and summaries as JSON Lines (see the README)",
        description=(
            "Write a tenant's live users and sessions (messages, summaries, metadata, uuids, timestamps and token "
            "counts) as JSON Lines to stdout or -o FILE, a session at a time. --resume continues an interrupted "
            "export in FILE after its last complete session."
        ),
    )
    parser.add_argument("--tenant", required=True, help="the tenant to export")
    parser.add_argument("--session", metavar="ID", help="only this session (and its user)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    parser.add_argument("--resume", action="store_true", help="continue the export in FILE where it stopped")
    parser.add_argument("--progress", action="store_true", help="show progress on stderr (default: on a terminal)")
    parser.set_defaults(command=reported("export", _export))


# -- import -------------------------------------------------------------------------------------------------------


def _numbered(stream: TextIO, progress: Progress) -> Iterator[Numbered]:
    from chat_memory_dev.transfer.format import parse_line

    for number, text in enumerate(stream, 1):
        progress.bytes_done += len(text)
        if text.strip():
            where = f"line {number}"
            yield where, parse_line(text, where)


def _import(args: argparse.Namespace) -> int:
    if args.from_langchain_table:
        return _import_langchain(args)
    if not args.tenant:
        raise CliError("which tenant? give --tenant T (the data goes into that tenant, whichever it came from)")
    from chat_memory_dev.transfer.importer import Importer

    table = _table(args)
    path = Path(args.input) if args.input else None
    progress = _progress(args, "import", path.stat().st_size if path else None)
    with path.open(encoding="utf-8") if path else contextlib.nullcontext(_utf8(sys.stdin)) as stream:
        importer = Importer(table, args.tenant, progress)
        totals = importer.run(_numbered(stream, progress))
    _summary("import", totals, f" imported; {importer.skipped} sessions already there, skipped")
    return 0


def _import_langchain(args: argparse.Namespace) -> int:
    from chat_memory_dev.transfer.importer import Importer
    from chat_memory_dev.transfer.langchain import langchain_lines, scan

    if args.input:
        raise CliError("--from-langchain-table reads that table, not -i FILE")
    table = _table(args)
    importer = Importer(table, args.tenant or "default", _progress(args, "import"), header=False)
    totals = importer.run(langchain_lines(scan(table.db, args.from_langchain_table), args.from_langchain_table))
    _summary("import", totals, f" imported; {importer.skipped} sessions already there, skipped")
    return 0


def add_import(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        parents=[table_arguments()],
        help="import an export (JSON Lines), or a LangChain DynamoDBChatMessageHistory table, into a tenant",
        description=(
            "Read an export from -i FILE or stdin into --tenant, keeping uuids, timestamps, metadata and token "
            "counts. A session becomes visible once all its lines are in; a malformed line stops the import with "
            "its line number and leaves nothing of its session. Run it again to resume: complete sessions are "
            "skipped. --from-langchain-table NAME reads LangChain's table (key SessionId, attribute History) "
            "instead, one session per item (tenant `default` unless --tenant)."
        ),
    )
    parser.add_argument("--tenant", help="the tenant to import into (required for an export)")
    parser.add_argument("-i", "--input", metavar="FILE", help="the export to read (default: stdin)")
    parser.add_argument("--from-langchain-table", metavar="NAME", help="read LangChain's DynamoDB history table")
    parser.add_argument("--progress", action="store_true", help="show progress on stderr (default: on a terminal)")
    parser.set_defaults(command=reported("import", _import))
