"""`chat-memory export` / `import` against moto tables built from template.yaml: a lossless round trip, one session,
resuming both ways, a malformed line, LangChain's DynamoDBChatMessageHistory table, the API on imported data."""

import io
import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage, messages_to_dict

from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
from chat_memory.domain.models import Summary
from chat_memory_dev import cli
from chat_memory_dev.localdb.dynamodb import create_table_from_template
from tests.integration.conftest import TABLE, Invoke

COPY = "chat-memory-copy"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _fill(api: Invoke, ddb: Any) -> None:
    """Two users, three live sessions (metadata, a user, summaries), a deleted one, and another tenant's."""
    assert api("POST", "/api/v2/users", {"user_id": "ann", "email": "a@x.io", "metadata": {"n": 2**70}}).status == 201
    assert api("POST", "/api/v2/users", {"user_id": "bob"}).status == 201
    assert api("POST", "/api/v2/sessions", {"session_id": "s1", "user_id": "ann", "metadata": {"k": "é"}}).status == 201
    for session in ("s1", "s2", "gone", "s3"):
        for turn in range(3):
            messages = [
                {"role": "Ann", "role_type": "user", "content": f"{session} hello {turn} ✓", "metadata": {"t": turn}},
                {"role": "AI", "role_type": "assistant", "content": f"{session} answer {turn}"},
            ]
            body = {"messages": messages, "summary_instruction": "be brief" if session == "s2" else None}
            assert api("POST", f"/api/v2/sessions/{session}/memory", body).status == 201
    assert api("DELETE", "/api/v2/sessions/gone/memory").status == 200
    assert api("POST", "/api/v2/sessions/other/memory", {"messages": [{"content": "x"}]}, tenant="globex").status == 201
    stored = api("GET", "/api/v2/sessions/s2/messages").body["messages"]
    store = DynamoMemoryStore(TABLE, client=ddb)
    for version, point in enumerate((stored[1], stored[3])):
        message = store.get_message("default", "s2", point["uuid"])
        assert message is not None
        summary = Summary(
            str(uuid.uuid4()), 1_800_000_000_000_000 + version, f"sum {version}", message.uuid, message.ts, 7
        )
        assert store.write_summary("default", "s2", summary, version)


@pytest.fixture
def filled(api: Invoke, ddb: Any) -> Any:
    _fill(api, ddb)
    create_table_from_template(ddb, COPY)
    return ddb


def _export(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status, out, err = _run(capsys, "export", "--tenant", "default", *argv)
    assert status == 0, err
    return out


def _session_starts(lines: list[str]) -> list[int]:
    return [n for n, line in enumerate(lines) if '"type":"session"' in line]


def _types(text: str) -> list[str]:
    return [json.loads(line)["type"] for line in text.splitlines()]


def test_a_round_trip_through_an_empty_table_gives_the_same_bytes(
    filled: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first = _export(capsys, "--table", TABLE)
    assert _types(first)[:3] == ["format", "user", "user"]
    assert _types(first)[-1] == "end" and _types(first).count("session") == 3  # not the deleted one, not globex's
    assert '"gone"' not in first and "globex" not in first.split("\n", 1)[1]
    assert _types(first).count("summary") == 3  # the current summary and the history of two
    path = tmp_path / "export.jsonl"
    path.write_text(first, encoding="utf-8")
    status, _, err = _run(capsys, "import", "--table", COPY, "--tenant", "default", "-i", str(path))
    assert status == 0, err
    assert "3 sessions, 18 messages imported" in err
    assert _export(capsys, "--table", COPY) == first


def test_an_import_reads_stdin_without_a_file(
    filled: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _export(capsys, "--table", TABLE)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(first.encode()), encoding="latin-1"))
    status, _, err = _run(capsys, "import", "--table", COPY, "--tenant", "default")
    assert status == 0, err
    assert "3 sessions, 18 messages imported" in err
    assert _export(capsys, "--table", COPY) == first, "read as UTF-8 whatever the terminal's encoding"


def test_an_export_of_one_session_holds_it_and_its_user(filled: Any, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(capsys, "export", "--tenant", "default", "--table", TABLE, "--session", "s1", "--progress")
    assert status == 0
    assert err.split("\n")[0].endswith(
        "\rchat-memory export: 1 sessions, 6 messages"
    )  # the progress line, then the counts
    assert _types(out) == ["format", "user", "session", *["message"] * 6, "session_end", "end"]
    assert json.loads(out.splitlines()[1])["user_id"] == "ann"
    status, _, err = _run(capsys, "export", "--table", TABLE, "--tenant", "default", "--session", "gone")
    assert status == 1 and "no session 'gone'" in err


def test_an_interrupted_export_resumes_after_its_last_complete_session(
    filled: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    whole = _export(capsys, "--table", TABLE)
    lines = whole.splitlines(keepends=True)
    second_session = _session_starts(lines)[1]
    path = tmp_path / "cut.jsonl"
    path.write_text("".join(lines[: second_session + 3]) + lines[second_session + 3][:10], encoding="utf-8")
    status, _, err = _run(capsys, "export", "--table", TABLE, "--tenant", "default", "-o", str(path), "--resume")
    assert status == 0, err
    assert "resuming after 1 complete sessions" in err
    assert path.read_text(encoding="utf-8") == whole
    status, _, err = _run(capsys, "export", "--table", TABLE, "--tenant", "default", "-o", str(path), "--resume")
    assert status == 1 and "complete export already" in err


def test_an_interrupted_import_leaves_its_session_invisible_and_a_rerun_completes_it(
    filled: Any, api: Invoke, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    whole = _export(capsys, "--table", TABLE)
    lines = whole.splitlines(keepends=True)
    second_session = _session_starts(lines)[1]
    path = tmp_path / "cut.jsonl"
    path.write_text("".join(lines[: second_session + 4]), encoding="utf-8")
    status, _, err = _run(capsys, "import", "--table", TABLE, "--tenant", "copy", "-i", str(path))
    assert status == 1 and "ends before its `end` line" in err
    assert api("GET", "/api/v2/sessions/s1/memory", tenant="copy").status == 200
    assert api("GET", "/api/v2/sessions/s2/memory", tenant="copy").status == 404
    assert not _partition(filled, "copy", "s2")  # nothing left of the cut session
    path.write_text(whole, encoding="utf-8")
    status, _, err = _run(capsys, "import", "--table", TABLE, "--tenant", "copy", "-i", str(path))
    assert status == 0, err
    assert "2 sessions, 12 messages imported; 1 sessions already there, skipped" in err
    status, copied, _ = _run(capsys, "export", "--table", TABLE, "--tenant", "copy")
    assert status == 0
    assert copied == whole.replace('"tenant":"default"', '"tenant":"copy"', 1)


def _partition(ddb: Any, tenant: str, session_id: str, table: str = TABLE) -> list[dict[str, Any]]:
    values = {":pk": {"S": f"T#{tenant}#S#{session_id}"}}
    items: list[dict[str, Any]] = ddb.query(
        TableName=table, KeyConditionExpression="PK = :pk", ExpressionAttributeValues=values
    )["Items"]
    return items


def test_a_malformed_line_is_named_and_nothing_of_its_session_is_visible(
    filled: Any, api: Invoke, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = _export(capsys, "--table", TABLE).splitlines(keepends=True)
    second_session = _session_starts(lines)[1]
    bad = json.loads(lines[second_session + 3])
    bad["created_at"] = "yesterday"
    lines[second_session + 3] = json.dumps(bad) + "\n"
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    status, _, err = _run(capsys, "import", "--table", COPY, "--tenant", "default", "-i", str(path))
    assert status == 1
    assert err.startswith(f"chat-memory import: line {second_session + 4}: created_at: ")
    assert "Traceback" not in err and "answer" not in err and "hello" not in err  # no content in the message
    assert not _partition(filled, "default", json.loads(lines[second_session])["session_id"], COPY)
    first_id = json.loads(lines[_session_starts(lines)[0]])["session_id"]
    assert _partition(filled, "default", first_id, COPY)  # the session before it is in


def test_a_summary_over_dynamodbs_400_kb_is_named_and_nothing_of_its_session_is_visible(
    filled: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # moto would store it; DynamoDB refuses an item over 400 KB, so the importer checks before writing.
    lines = _export(capsys, "--table", TABLE).splitlines(keepends=True)
    at = next(n for n, line in enumerate(lines) if json.loads(line)["type"] == "summary")
    summary = json.loads(lines[at])
    summary["content"] = "x" * 420_000
    lines[at] = json.dumps(summary) + "\n"
    path = tmp_path / "big.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    status, _, err = _run(capsys, "import", "--table", COPY, "--tenant", "default", "-i", str(path))
    assert status == 1 and err.startswith(f"chat-memory import: line {at + 1}: the summary"), err
    session_line = max(n for n in _session_starts(lines) if n < at)
    assert not _partition(filled, "default", json.loads(lines[session_line])["session_id"], COPY)


def test_the_api_works_on_imported_sessions(
    filled: Any, api: Invoke, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(_export(capsys, "--table", TABLE), encoding="utf-8")
    assert _run(capsys, "import", "--table", TABLE, "--tenant", "copy", "-i", str(path))[0] == 0
    original = api("GET", "/api/v2/sessions/s2/memory", query="lastn=4").body
    copied = api("GET", "/api/v2/sessions/s2/memory", query="lastn=4", tenant="copy").body
    assert copied["messages"] == original["messages"] and copied["summary"] == original["summary"]
    newest = copied["messages"][-1]
    reply = api(
        "POST", "/api/v2/sessions/s2/memory", {"messages": [{"role_type": "user", "content": "after"}]}, tenant="copy"
    )
    assert reply.status == 201
    page = api("GET", "/api/v2/sessions/s2/messages", tenant="copy").body
    assert page["total_count"] == 7 and page["messages"][-1]["content"] == "after"
    assert page["messages"][-1]["created_at"] > newest["created_at"]
    assert (
        api("GET", f"/api/v2/sessions/s2/messages/{newest['uuid']}", tenant="copy").body["content"] == newest["content"]
    )
    listed = api("GET", "/api/v2/sessions", tenant="copy").body
    assert {s["session_id"] for s in listed} == {"s1", "s2", "s3"}
    assert [s["session_id"] for s in api("GET", "/api/v2/users/ann/sessions", tenant="copy").body] == ["s1"]


def test_a_langchain_table_becomes_sessions_in_order(ddb: Any, api: Invoke, capsys: pytest.CaptureFixture[str]) -> None:
    ddb.create_table(
        TableName="lc",
        AttributeDefinitions=[{"AttributeName": "SessionId", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "SessionId", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    history = [
        SystemMessage("be kind"),
        HumanMessage("hi there"),
        AIMessage("hello!", additional_kwargs={"n": 3}),
        ToolMessage("42", tool_call_id="c1"),
    ]
    table = boto3.resource("dynamodb", region_name="us-east-1").Table("lc")
    table.put_item(Item={"SessionId": "chat-1", "History": messages_to_dict(history)})
    table.put_item(
        Item={"SessionId": "chat-2", "History": messages_to_dict([HumanMessage(f"m{n}") for n in range(30)])}
    )
    status, _, err = _run(capsys, "import", "--from-langchain-table", "lc", "--table", TABLE)
    assert status == 0, err
    assert "2 sessions, 34 messages imported" in err
    messages = api("GET", "/api/v2/sessions/chat-1/messages").body["messages"]
    assert [(m["role"], m["role_type"], m["content"]) for m in messages] == [
        ("system", "system", "be kind"),
        ("human", "user", "hi there"),
        ("ai", "assistant", "hello!"),
        ("tool", "tool", "42"),
    ]
    assert messages[2]["metadata"] == {"langchain": {"additional_kwargs": {"n": 3}}}
    assert messages[3]["metadata"]["langchain"]["tool_call_id"] == "c1"
    assert all(m["token_count"] > 0 for m in messages)
    assert [m["created_at"] for m in messages] == sorted(m["created_at"] for m in messages)
    thirty = api("GET", "/api/v2/sessions/chat-2/messages", query="limit=100").body["messages"]
    assert [m["content"] for m in thirty] == [f"m{n}" for n in range(30)]
    status, _, err = _run(capsys, "import", "--from-langchain-table", "lc", "--table", TABLE)
    assert status == 0 and "2 sessions already there, skipped" in err


def _lines_of(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda ls: ls[1:], "line 1: the first line must be the `format` line"),
        (lambda ls: ls[:-1], "line 9: the input ends before its `end` line"),
        (
            lambda ls: [*ls[:-1], ls[-1], {"type": "end", "users": 0, "sessions": 0, "messages": 0}],
            "nothing may follow",
        ),
        (lambda ls: [ls[0], ls[2], *ls[1:]], "line 2: a `message` line outside a session"),
        (lambda ls: [ls[0], ls[1], ls[1], *ls[2:]], "line 3: a `session` line inside session 's1' (no session_end)"),
        (lambda ls: [*ls[:2], ls[3], ls[2], *ls[4:]], "line 4: created_at must be later than the previous message's"),
        (lambda ls: [*ls[:2], *ls[3:]], "line 8: session_end does not match the session's lines"),
    ],
)
def test_lines_out_of_place_are_named_and_leave_nothing_of_their_session(
    filled: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, edit: Any, says: str
) -> None:
    exported = _lines_of(_export(capsys, "--table", TABLE, "--session", "s1"))
    lines = [exported[0], *exported[2:]]  # format, session s1, 6 messages, session_end, end (not the user)
    path = tmp_path / "edited.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in edit(lines)), encoding="utf-8")
    status, _, err = _run(capsys, "import", "--table", COPY, "--tenant", "default", "-i", str(path))
    assert status == 1 and says in err, err
    complete = "nothing may follow" in says or "ends before" in says  # s1 itself was whole: it is in
    assert bool(_partition(filled, "default", "s1", COPY)) == complete


def test_another_session_of_the_same_id_is_not_overwritten(
    filled: Any, api: Invoke, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "s1.jsonl"
    path.write_text(_export(capsys, "--table", TABLE, "--session", "s1"), encoding="utf-8")
    assert api("POST", "/api/v2/sessions/s1/memory", {"messages": [{"content": "mine"}]}, tenant="copy").status == 201
    status, _, err = _run(capsys, "import", "--table", TABLE, "--tenant", "copy", "-i", str(path))
    assert status == 1 and "session 's1' exists in tenant 'copy' (another session)" in err
    messages = api("GET", "/api/v2/sessions/s1/messages", tenant="copy").body["messages"]
    assert [m["content"] for m in messages] == ["mine"]
