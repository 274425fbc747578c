"""`chat-memory keys create|list|revoke` against a moto table built from template.yaml; the stack output lookup."""

import argparse
import datetime as dt
import re
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chat_memory.adapters.dynamodb.api_keys import ApiKeyStore
from chat_memory_dev import cli, cli_aws
from tests.integration.conftest import TABLE

KEY = re.compile(r"API key \(shown only now, store it safely\): (cm_[A-Za-z0-9_-]{43})$")
KEY_ID = re.compile(r"^key id: (\S+)  tenant: (\S+)  name: (.+)  created: (\S+)$")


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _create(capsys: pytest.CaptureFixture[str], tenant: str, name: str, *where: str) -> tuple[str, str]:
    status, out, err = _run(capsys, "keys", "create", "--tenant", tenant, "--name", name, *where)
    assert (status, err) == (0, "")
    key_line, id_line = out.splitlines()
    key = KEY.search(key_line)
    ids = KEY_ID.match(id_line)
    assert key is not None and ids is not None, out
    assert ids.group(2, 3) == (tenant, name)
    return key.group(1), ids.group(1)


def _listing(out: str) -> list[list[str]]:
    header, *rows = out.splitlines()
    assert header.split() == ["KEY_ID", "TENANT", "NAME", "CREATED_AT", "REVOKED"]
    return [row.split() for row in rows]


def test_create_prints_the_key_once_and_stores_only_its_hash(
    ddb: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TABLE_NAME", raising=False)
    key, key_id = _create(capsys, "acme", "prod", "--table", TABLE)
    info = ApiKeyStore(TABLE, client=ddb).lookup(key)
    assert info is not None
    assert (info.key_id, info.tenant, info.name, info.revoked) == (key_id, "acme", "prod", False)
    stored = ddb.scan(TableName=TABLE)["Items"]
    assert stored and key not in repr(stored)  # the secret itself is nowhere in the table


def test_list_shows_every_key_without_secrets_and_revoke_marks_one(
    ddb: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE_NAME", TABLE)  # the default table
    key_a, id_a = _create(capsys, "acme", "prod")
    key_b, id_b = _create(capsys, "globex", "staging")

    status, out, err = _run(capsys, "keys", "list")
    assert (status, err) == (0, "")
    assert key_a not in out and key_b not in out
    rows = {row[0]: row for row in _listing(out)}
    assert set(rows) == {id_a, id_b}
    assert rows[id_a][1:3] == ["acme", "prod"] and rows[id_a][4] == "no"
    assert rows[id_b][1:3] == ["globex", "staging"] and rows[id_b][4] == "no"
    dt.datetime.fromisoformat(rows[id_a][3].replace("Z", "+00:00"))  # an RFC 3339 time

    status, out, err = _run(capsys, "keys", "revoke", id_a)
    assert (status, err) == (0, "")
    assert id_a in out
    rows = {row[0]: row for row in _listing(_run(capsys, "keys", "list", "--table", TABLE)[1])}
    assert (rows[id_a][4], rows[id_b][4]) == ("yes", "no")
    store = ApiKeyStore(TABLE, client=ddb)
    revoked, kept = store.lookup(key_a), store.lookup(key_b)
    assert revoked is not None and revoked.revoked
    assert kept is not None and not kept.revoked


def test_revoking_an_unknown_id_exits_1_with_a_message(ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "keys", "revoke", "0000000000000000", "--table", TABLE)
    assert status == 1
    assert out == ""
    assert "no API key has the id 0000000000000000" in err


def test_an_empty_table_lists_only_the_header(ddb: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "keys", "list", "--table", TABLE)
    assert status == 0
    assert _listing(out) == []


def test_invalid_tenant_and_missing_table_are_one_line_errors(
    ddb: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, _, err = _run(capsys, "keys", "create", "--tenant", "no spaces", "--name", "n", "--table", TABLE)
    assert status == 1
    assert err.startswith("chat-memory keys: ") and "tenant" in err
    assert "Traceback" not in err

    status, _, err = _run(capsys, "keys", "list", "--table", "no-such-table")
    assert status == 1
    assert "ResourceNotFoundException" in err

    monkeypatch.delenv("TABLE_NAME", raising=False)
    status, _, err = _run(capsys, "keys", "list")
    assert status == 1
    assert "--table" in err and "--stack" in err


def test_table_and_stack_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["keys", "list", "--table", "t", "--stack", "s"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


# --- the table of a deployed stack ------------------------------------------------------------------------


def _stubbed_cloudformation(stack: str, outputs: list[dict[str, str]] | None) -> tuple[Any, Stubber]:
    client = boto3.client("cloudformation", region_name="us-east-1")
    stubber = Stubber(client)
    if outputs is None:
        stubber.add_client_error(
            "describe_stacks",
            service_error_code="ValidationError",
            service_message=f"Stack with id {stack} does not exist",
            http_status_code=400,
            expected_params={"StackName": stack},
        )
    else:
        stack_description = {
            "StackName": stack,
            "CreationTime": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            "StackStatus": "CREATE_COMPLETE",
            "Outputs": outputs,
        }
        stubber.add_response("describe_stacks", {"Stacks": [stack_description]}, {"StackName": stack})
    stubber.activate()
    return client, stubber


OUTPUTS = [
    {"OutputKey": "ApiUrl", "OutputValue": "https://abc.execute-api.us-east-1.amazonaws.com"},
    {"OutputKey": "TableName", "OutputValue": TABLE},
]


def test_stack_table_name_reads_the_table_name_output() -> None:
    client, stubber = _stubbed_cloudformation("memory", OUTPUTS)
    assert cli.stack_table_name("memory", client) == TABLE
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("outputs", "message"),
    [(None, "does not exist"), ([OUTPUTS[0]], "no TableName output"), ([], "no TableName output")],
)
def test_stack_table_name_errors(outputs: list[dict[str, str]] | None, message: str) -> None:
    client, _ = _stubbed_cloudformation("memory", outputs)
    with pytest.raises(cli.CliError, match=message):
        cli.stack_table_name("memory", client)


def test_keys_commands_find_the_table_from_the_stack(
    ddb: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TABLE_NAME", "not-this-one")
    regions: list[str | None] = []
    real_client = cli_aws._boto3_client

    def client_for(service: str, region: str | None) -> Any:
        regions.append(region)
        if service == "cloudformation":
            return _stubbed_cloudformation("memory", OUTPUTS)[0]
        return real_client(service, region)

    monkeypatch.setattr(cli_aws, "_boto3_client", client_for)
    key, key_id = _create(capsys, "acme", "prod", "--stack", "memory", "--region", "us-east-1")
    assert regions == ["us-east-1", "us-east-1"]  # cloudformation, then dynamodb, in the region asked for
    info = ApiKeyStore(TABLE, client=ddb).lookup(key)
    assert info is not None and info.key_id == key_id


def test_resolve_table_prefers_table_then_stack_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "from-env")
    args = argparse.Namespace(table="given", stack=None, region=None)
    assert cli.resolve_table(args) == "given"
    assert cli.resolve_table(argparse.Namespace(table=None, stack=None, region=None)) == "from-env"
