"""`chat-memory dlq list|redrive`: the stream consumers' dead-letter queues of a deployed stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from chat_memory_dev.ops.dlq import (
    QUEUE_OUTPUTS,
    VISIBILITY_S,
    FailedBatch,
    Invoker,
    NotAFailedBatchError,
    failed_batch,
    mapping_filters,
    receive_all,
    release,
    replay,
    stream_records,
    tombstone_records,
)

RESCAN_BATCH: Final = 10  # the purger's BatchSize: what one invocation is sized for


@dataclass
class Clients:
    """What a redrive talks to (boto3 clients; `invoke` calls a function, Lambda's Invoke by default)."""

    sqs: Any
    streams: Any
    lambda_: Any
    dynamodb: Any
    invoke: Invoker


@dataclass
class Outcome:
    """What a redrive of one queue did, message by message."""

    replayed: list[tuple[str, int]] = field(default_factory=list)  # (message id, records replayed)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (message id, why it stays in the queue)
    rescanned_tombstones: int = 0


def queue_urls(stack: str, cloudformation: Any) -> dict[str, str]:
    """The dead-letter queue of each stream consumer the stack has, by consumer name."""
    from chat_memory_dev.cli_aws import CliError

    stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in (stacks[0].get("Outputs") or [])} if stacks else {}
    found = {name: str(outputs[key]) for name, key in QUEUE_OUTPUTS.items() if key in outputs}
    if not found:
        raise CliError(f"stack {stack} has no dead-letter queue outputs (is it a chat-memory stack?)")
    return found


def list_queue(sqs: Any, url: str, out: TextIO, *, limit: int) -> int:
    """Print the failed batches of a queue (they stay in it); how many there were."""
    messages = list(receive_all(sqs, url, limit=limit, visibility_s=30))
    release(sqs, url, [m["ReceiptHandle"] for m in messages])
    for message in messages:
        try:
            b = failed_batch(message)
        except NotAFailedBatchError as exc:
            print(f"  {message['MessageId']}  {exc}", file=out)
            continue
        function = b.function_arn.rsplit(":", 1)[-1]
        print(
            f"  {b.message_id}  failed {b.failed_at} ({b.condition})  {function}  {b.batch_size} records "
            f"{b.start_sequence}..{b.end_sequence}  first record {b.first_record_at}",
            file=out,
        )
    return len(messages)


def redrive_queue(
    name: str, url: str, clients: Clients, *, limit: int, dry_run: bool = False, table: str | None = None
) -> Outcome:
    """Replay every failed batch of a queue; `table` lets a purger batch past the stream be finished by rescan."""
    outcome, gone, keep = Outcome(), [], []
    for message in receive_all(clients.sqs, url, limit=limit, visibility_s=VISIBILITY_S):
        try:
            batch = failed_batch(message)
        except NotAFailedBatchError as exc:
            outcome.kept.append((message["MessageId"], str(exc)))
            keep.append(message["ReceiptHandle"])
            continue
        records = stream_records(clients.streams, batch)
        if records is None:
            gone.append(batch)
        elif _replayed(batch, records, clients, outcome, dry_run=dry_run):
            clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=batch.receipt_handle)
        else:
            keep.append(batch.receipt_handle)
    keep += _finish_gone(name, url, gone, clients, outcome, dry_run=dry_run, table=table)
    release(clients.sqs, url, keep)
    return outcome


def _replayed(
    batch: FailedBatch, records: Sequence[dict[str, Any]], clients: Clients, outcome: Outcome, *, dry_run: bool
) -> bool:
    """Replay one batch (not on a dry run); whether it may leave the queue."""
    try:
        patterns = mapping_filters(clients.lambda_, batch.function_arn, batch.stream_arn)
        count = len(records) if dry_run else replay(batch, records, patterns, clients.invoke)
    except Exception as exc:  # the batch stays in the queue; the reason is reported
        outcome.kept.append((batch.message_id, f"replay failed: {exc}"))
        return False
    if dry_run:
        outcome.kept.append((batch.message_id, f"dry run: {count} records in the stream"))
        return False
    outcome.replayed.append((batch.message_id, count))
    return True


def _finish_gone(
    name: str,
    url: str,
    gone: Sequence[FailedBatch],
    clients: Clients,
    outcome: Outcome,
    *,
    dry_run: bool,
    table: str | None,
) -> list[str]:
    """Batches the stream no longer holds: the purger's are finished by one rescan of the tombstones (when a
    table is given); the rest stay. The receipt handles to keep."""
    if not gone:
        return []
    if name != "purger" or table is None or dry_run:
        why = "records no longer in the stream (it keeps them 24 hours)" + (
            "; `--rescan-tombstones` finishes purges from the table" if name == "purger" else ""
        )
        outcome.kept.extend((b.message_id, why) for b in gone)
        return [b.receipt_handle for b in gone]
    try:
        outcome.rescanned_tombstones = _rescan(clients, table, gone[0])
    except Exception as exc:  # the batches stay in the queue
        outcome.kept.extend((b.message_id, f"rescan failed: {exc}") for b in gone)
        return [b.receipt_handle for b in gone]
    for batch in gone:
        clients.sqs.delete_message(QueueUrl=url, ReceiptHandle=batch.receipt_handle)
        outcome.replayed.append((batch.message_id, 0))
    return []


def _rescan(clients: Clients, table: str, batch: FailedBatch) -> int:
    """Hand the purger every tombstone of the table, RESCAN_BATCH at a time; how many."""
    chunk: list[dict[str, Any]] = []
    total = 0
    for record in tombstone_records(clients.dynamodb, table, batch.stream_arn):
        chunk.append(record)
        if len(chunk) == RESCAN_BATCH:
            total += replay(batch, chunk, (), clients.invoke)
            chunk = []
    return total + (replay(batch, chunk, (), clients.invoke) if chunk else 0)


def print_outcome(name: str, outcome: Outcome, out: TextIO) -> None:
    for message_id, count in outcome.replayed:
        print(f"  {message_id}  replayed ({count} records), removed from the queue", file=out)
    if outcome.rescanned_tombstones:
        print(f"  rescan: {outcome.rescanned_tombstones} tombstones handed to the purger", file=out)
    for message_id, why in outcome.kept:
        print(f"  {message_id}  kept: {why}", file=out)
    if not outcome.replayed and not outcome.kept:
        print(f"  {name}: empty", file=out)


def chosen_queues(args: argparse.Namespace, cloudformation: Any) -> dict[str, str]:
    from chat_memory_dev.cli_aws import CliError

    urls = queue_urls(args.stack, cloudformation)
    wanted: Iterable[str] = args.queue or urls
    missing = [q for q in wanted if q not in urls]
    if missing:
        raise CliError(f"stack {args.stack} has no {', '.join(missing)} dead-letter queue")
    return {q: urls[q] for q in wanted}


def add_dlq(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], wrap: Any) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--stack", required=True, help="the chat-memory CloudFormation stack")
    common.add_argument("--region", help="AWS region (default: the standard AWS configuration)")
    common.add_argument("--queue", action="append", choices=sorted(QUEUE_OUTPUTS), help="only this queue (repeatable)")
    common.add_argument("--limit", type=int, default=1000, help="at most this many messages per queue (1000)")
    parser = subparsers.add_parser(
        "dlq",
        help="list and replay the stream consumers' dead-letter queues (summariser, purger, embedder)",
        description=__doc__,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    listing = commands.add_parser("list", parents=[common], help="show the failed batches (they stay queued)")
    listing.set_defaults(command=wrap(_list))
    redrive = commands.add_parser("redrive", parents=[common], help="replay the failed batches, idempotently")
    redrive.add_argument("--dry-run", action="store_true", help="read the records back, invoke nothing")
    redrive.add_argument(
        "--rescan-tombstones",
        action="store_true",
        help="finish purges whose records the stream no longer holds from the table's tombstones (a Scan)",
    )
    redrive.set_defaults(command=wrap(_redrive))


def _client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def _list(args: argparse.Namespace) -> int:
    sqs = _client("sqs", args.region)
    for name, url in chosen_queues(args, _client("cloudformation", args.region)).items():
        print(f"{name}: {url}")
        if list_queue(sqs, url, sys.stdout, limit=args.limit) == 0:
            print("  empty")
    return 0


def _redrive(args: argparse.Namespace) -> int:
    from chat_memory_dev.cli_aws import stack_table_name
    from chat_memory_dev.ops.dlq import lambda_invoker

    cloudformation = _client("cloudformation", args.region)
    lambda_ = _client("lambda", args.region)
    clients = Clients(
        sqs=_client("sqs", args.region),
        streams=_client("dynamodbstreams", args.region),
        lambda_=lambda_,
        dynamodb=_client("dynamodb", args.region),
        invoke=lambda_invoker(lambda_),
    )
    table = stack_table_name(args.stack, cloudformation) if args.rescan_tombstones else None
    kept = 0
    for name, url in chosen_queues(args, cloudformation).items():
        print(f"{name}: {url}")
        outcome = redrive_queue(name, url, clients, limit=args.limit, dry_run=args.dry_run, table=table)
        print_outcome(name, outcome, sys.stdout)
        kept += len(outcome.kept)
    return 0 if kept == 0 or args.dry_run else 2
