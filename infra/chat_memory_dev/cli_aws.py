"""What every AWS-facing `chat-memory` command shares: one-line errors, and which table (--table, --stack's
output, $TABLE_NAME) with a client to reach it (a local endpoint through AWS_ENDPOINT_URL_DYNAMODB)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any, Final

Command = Callable[[argparse.Namespace], int]

TABLE_OUTPUT: Final = "TableName"  # the stack output naming the table (template.yaml's Outputs)


class CliError(Exception):
    """A failure to report in one line (exit status 1), without a traceback."""


def stack_table_name(stack: str, cloudformation: Any) -> str:
    """The `TableName` output of a deployed stack (`cloudformation` is a boto3 CloudFormation client)."""
    from botocore.exceptions import ClientError

    try:
        stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        raise CliError(f"stack {stack}: {exc.response.get('Error', {}).get('Message', exc)}") from exc
    for output in (stacks[0].get("Outputs") or []) if stacks else []:
        if output.get("OutputKey") == TABLE_OUTPUT:
            return str(output["OutputValue"])
    raise CliError(f"stack {stack} has no {TABLE_OUTPUT} output (is it a chat-memory stack, fully deployed?)")


def _boto3_client(service: str, region: str | None) -> Any:
    import boto3

    return boto3.client(service, region_name=region)  # type: ignore[call-overload]


def resolve_table(args: argparse.Namespace) -> str:
    """--table, else --stack's TableName output, else $TABLE_NAME."""
    if args.table:
        return str(args.table)
    if args.stack:
        return stack_table_name(args.stack, _boto3_client("cloudformation", args.region))
    from_env = os.environ.get("TABLE_NAME", "").strip()
    if from_env:
        return from_env
    raise CliError("which table? give --table NAME or --stack NAME, or set TABLE_NAME")


def table_and_client(args: argparse.Namespace) -> tuple[str, Any]:
    """The table (--table, --stack or $TABLE_NAME) and a DynamoDB client (--region) to reach it."""
    from chat_memory_dev.localdb.dynamodb import ENDPOINT_ENV, fill_in_loopback_credentials

    # AWS_ENDPOINT_URL_DYNAMODB (a local table) is honoured by botocore itself; a loopback endpoint works
    # without configured credentials.
    fill_in_loopback_credentials(os.environ.get(ENDPOINT_ENV, ""))
    return resolve_table(args), _boto3_client("dynamodb", args.region)


def reported(name: str, command: Command) -> Command:
    """Run a command; AWS and validation errors become one line on stderr (`chat-memory NAME: ...`), exit status 1."""

    def run(args: argparse.Namespace) -> int:
        from botocore.exceptions import BotoCoreError, ClientError

        from chat_memory.domain.errors import ChatMemoryError

        try:
            return command(args)
        except CliError as exc:
            message = str(exc)
        except ChatMemoryError as exc:
            message = exc.message
        except ClientError as exc:
            error = exc.response.get("Error", {})
            message = f"{error.get('Code', 'error')}: {error.get('Message', exc)}"
        except BotoCoreError as exc:
            message = str(exc)
        print(f"chat-memory {name}: {message}", file=sys.stderr)
        return 1

    return run


def table_arguments() -> argparse.ArgumentParser:
    """--table | --stack, --region: a parent parser for the commands that act on a chat-memory table."""
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_mutually_exclusive_group()
    where.add_argument("--table", help="DynamoDB table name (default: $TABLE_NAME)")
    where.add_argument("--stack", help="CloudFormation stack whose TableName output names the table")
    common.add_argument("--region", help="AWS region (default: the standard AWS configuration)")
    return common
