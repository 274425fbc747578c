"""Perpetual memory: stream records through the summariser handler against moto, then memory read back."""

import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chat_memory import wiring
from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.client import dynamodb_client
from chat_memory.adapters.summarisers import BedrockSummaryModel
from chat_memory.domain.models import ModelSummary
from chat_memory.service.summarise import SummariseSession
from tests.http_events import FakeContext
from tests.integration.bedrock import answer_calls, bedrock_response, converse_ok
from tests.integration.conftest import TABLE, Invoke, all_items, data_items, receipts, run_purger

W = 12  # the default window


def _add(api: Invoke, session: str, count: int, prefix: str = "m", **memory: Any) -> None:
    messages = [
        {"role": "Jane" if i % 2 == 0 else "Bot", "role_type": "user" if i % 2 == 0 else "assistant",
         "content": f"{prefix}{i}. Some detail about {prefix}{i}."}
        for i in range(count)
    ]  # fmt: skip
    for start in range(0, count, 99):
        reply = api("POST", f"/api/v2/sessions/{session}/memory", {"messages": messages[start : start + 99], **memory})
        assert reply.status == 201, reply.body


def _stream_event(ddb: Any, session: str, tenant: str = "default") -> dict[str, Any]:
    """Lambda's DynamoDB Streams event for every message item of a session, as INSERTs in order."""
    pk = keys.session_pk(tenant, session)
    records: list[dict[str, Any]] = []
    for n, item in enumerate(i for i in all_items(ddb) if i["PK"]["S"] == pk and i["SK"]["S"].startswith("MSG#")):
        records.append(
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1",
                "dynamodb": {
                    "Keys": {"PK": item["PK"], "SK": item["SK"]},
                    "NewImage": item,
                    "SequenceNumber": f"{1000 + n:021d}",
                    "SizeBytes": 200,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/stream/2026",
            }
        )
    records.sort(key=lambda r: r["dynamodb"]["Keys"]["SK"]["S"])
    return {"Records": records}


def _summarise(ddb: Any, session: str) -> dict[str, Any]:
    from chat_memory.handlers import summariser

    result: dict[str, Any] = dict(summariser.lambda_handler(_stream_event(ddb, session), FakeContext()))
    return result


def _memory(api: Invoke, session: str, memory_type: str = "perpetual", lastn: int | None = None) -> dict[str, Any]:
    reply = api("GET", f"/api/v2/sessions/{session}/memory", query=f"memoryType={memory_type}&lastn={lastn or ''}")
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body
    return body


def _contents(memory: dict[str, Any]) -> list[str]:
    return [m["content"].split(".")[0] for m in memory["messages"]]


def _history(ddb: Any, session: str) -> list[dict[str, Any]]:
    pk = keys.session_pk("default", session)
    return [i for i in all_items(ddb) if i["PK"]["S"] == pk and i["SK"]["S"].startswith(keys.SUMMARY_HISTORY_PREFIX)]


@pytest.fixture
def small_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model input budget of a few lines, so a backlog is folded in several chunks."""
    monkeypatch.setenv("SUMMARY_MAX_INPUT_TOKENS", "60")
    monkeypatch.setenv("SUMMARY_MAX_TOKENS", "4000")


def test_no_summary_until_more_than_w_messages_are_newer_than_the_point(api: Invoke, ddb: Any) -> None:
    _add(api, "quiet", W)
    assert _summarise(ddb, "quiet") == {"batchItemFailures": []}
    memory = _memory(api, "quiet")
    assert memory["summary"] is None
    assert len(memory["messages"]) == W


def test_perpetual_memory_is_the_summary_then_exactly_what_it_does_not_cover(api: Invoke, ddb: Any) -> None:
    _add(api, "chat", 30)
    assert _summarise(ddb, "chat") == {"batchItemFailures": []}

    memory = _memory(api, "chat")
    summary = memory["summary"]
    assert summary is not None
    assert set(summary) == {"uuid", "created_at", "content", "recent_message_uuid", "token_count"}
    assert all(value is not None for value in summary.values())
    uuid.UUID(summary["uuid"])
    # All but the newest W/2 are folded: the summary covers m0..m23 and the messages are m24..m29.
    assert _contents(memory) == [f"m{i}" for i in range(24, 30)]
    window = _memory(api, "chat", "message_window", lastn=30)
    assert window["messages"][23]["uuid"] == summary["recent_message_uuid"]
    assert "m23" in summary["content"]
    assert summary["token_count"] == wiring.summarise_session().tokens.count(summary["content"])


def test_message_window_has_the_newest_summary_that_ends_before_its_messages(
    api: Invoke, ddb: Any, small_budget: None
) -> None:
    _add(api, "window", 40)
    _summarise(ddb, "window")
    points = [int(i["point_ts"]["N"]) for i in _history(ddb, "window")]
    assert len(points) > 2, "the small budget folded the backlog in several chunks"

    every = _memory(api, "window", "message_window", lastn=40)["messages"]
    for lastn in (6, 12, 20, 30):
        memory = _memory(api, "window", "message_window", lastn=lastn)
        assert len(memory["messages"]) == lastn
        oldest_index = next(i for i, m in enumerate(every) if m["uuid"] == memory["messages"][0]["uuid"])
        summary = memory["summary"]
        if summary is None:
            assert all(p >= _ts(every[oldest_index]) for p in points)
            continue
        covered = next(i for i, m in enumerate(every) if m["uuid"] == summary["recent_message_uuid"])
        assert covered < oldest_index, "no overlap between the summary and the messages"
        assert not [p for p in points if _ts(every[covered]) < p < _ts(every[oldest_index])], "the newest such"


def _ts(message: dict[str, Any]) -> int:
    """created_at back in microseconds since the epoch (the summary point's unit)."""
    when = datetime.strptime(message["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    return (when - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def test_one_request_of_99_messages_is_covered_but_the_newest_half_window(api: Invoke, ddb: Any) -> None:
    _add(api, "batch", 99)
    _summarise(ddb, "batch")
    memory = _memory(api, "batch")
    assert _contents(memory) == [f"m{i}" for i in range(93, 99)]
    window = _memory(api, "batch", "message_window", lastn=99)
    assert memory["summary"]["recent_message_uuid"] == window["messages"][92]["uuid"]


def test_a_backlog_over_the_budget_is_folded_chunk_by_chunk_each_on_the_summary_so_far(
    api: Invoke, ddb: Any, small_budget: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[str | None, list[str]]] = []
    real = wiring.summary_model()

    class Recording:
        name = "recording"

        def summarise(self, previous: str | None, lines: Sequence[str], instruction: str | None) -> ModelSummary:
            calls.append((previous, list(lines)))
            return real.summarise(previous, lines, instruction)

    monkeypatch.setattr(wiring, "summary_model", lambda: Recording())
    wiring.reset()  # the summariser is built again, with the model above
    _add(api, "chunks", 60)
    _summarise(ddb, "chunks")

    assert len(calls) > 2
    folded = [line.split(".")[0].split(": ")[1] for _, lines in calls for line in lines]
    assert folded == [f"m{i}" for i in range(54)], "every message folded once, in order"
    history = sorted(_history(ddb, "chunks"), key=lambda i: i["SK"]["S"])
    texts = [i["content"]["S"] for i in history]
    assert [previous for previous, _ in calls] == [None, *texts[:-1]], "each chunk builds on the summary so far"


def test_replayed_and_out_of_order_batches_never_move_the_summary_back(api: Invoke, ddb: Any) -> None:
    _add(api, "replay", 30)
    early = _stream_event(ddb, "replay")
    _summarise(ddb, "replay")
    first = _memory(api, "replay")["summary"]

    from chat_memory.handlers import summariser

    for _ in range(2):  # a replayed stream, then an old batch retried late
        assert summariser.lambda_handler(early, FakeContext()) == {"batchItemFailures": []}
    assert _memory(api, "replay")["summary"] == first
    assert len(_history(ddb, "replay")) == 1

    _add(api, "replay", 10, prefix="n")
    summariser.lambda_handler(early, FakeContext())  # the old batch wakes it: it still moves forwards only
    second = _memory(api, "replay")["summary"]
    assert second["recent_message_uuid"] != first["recent_message_uuid"]
    points = sorted(int(i["point_ts"]["N"]) for i in _history(ddb, "replay"))
    assert len(points) == 2
    assert points[0] < points[1]


def test_two_summarisers_racing_on_one_session_lose_nothing(api: Invoke, ddb: Any, small_budget: None) -> None:
    _add(api, "race", 40)
    rival: SummariseSession = wiring.summarise_session()
    fired = {"done": False}

    def rival_first(**_: Any) -> None:
        if not fired["done"]:
            fired["done"] = True
            rival("default", "race")  # a second summariser finishes the whole backlog meanwhile

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb.TransactWriteItems", rival_first, unique_id="rival")
    try:
        assert _summarise(ddb, "race") == {"batchItemFailures": []}
    finally:
        events.unregister("before-call.dynamodb.TransactWriteItems", unique_id="rival")

    history = sorted(_history(ddb, "race"), key=lambda i: i["SK"]["S"])
    window = _memory(api, "race", "message_window", lastn=40)["messages"]
    uuids = [m["uuid"] for m in window]
    covered = [uuids.index(i["recent_message_uuid"]["S"]) for i in history]
    assert covered == sorted(set(covered)), "summary points only ever move forwards"
    assert covered[-1] == 40 - W // 2 - 1, "everything but the newest W/2 is covered"
    current = _memory(api, "race")["summary"]
    assert current["recent_message_uuid"] == uuids[covered[-1]]


def test_deleting_a_session_removes_its_summaries(api: Invoke, ddb: Any) -> None:
    _add(api, "forget", 30)
    _summarise(ddb, "forget")
    assert api("DELETE", "/api/v2/sessions/forget/memory").status == 200
    assert run_purger(ddb) == {"batchItemFailures": []}
    assert data_items(ddb) == []
    assert receipts(ddb) == [{"session_id": "forget", "reason": "delete"}]
    _add(api, "forget", 3)
    assert _memory(api, "forget")["summary"] is None


def test_a_failing_model_fails_the_record_but_never_blocks_writes_or_reads(
    api: Invoke, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken:
        name = "broken"

        def summarise(self, previous: str | None, lines: Sequence[str], instruction: str | None) -> ModelSummary:
            raise RuntimeError("model down")

    monkeypatch.setattr(wiring, "summary_model", lambda: Broken())
    wiring.reset()  # the summariser is built again, with the model above
    _add(api, "down", 30)
    event = _stream_event(ddb, "down")
    result = _summarise(ddb, "down")
    assert result["batchItemFailures"], "the failed session's records are reported for a retry"
    sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in event["Records"]]
    assert {f["itemIdentifier"] for f in result["batchItemFailures"]} <= set(sequence_numbers)
    _add(api, "down", 2, prefix="after")
    memory = _memory(api, "down")
    assert memory["summary"] is None
    assert _contents(memory)[-2:] == ["after0", "after1"]


# -- Amazon Bedrock, stubbed at the botocore level: the real client, its retries, no network ----------------


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[AWSResponse]], list[dict[str, Any]]]:
    """Configure a Bedrock model and answer its HTTP calls from a script; returns the requests sent."""
    monkeypatch.setenv("SUMMARY_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
    monkeypatch.setenv("SUMMARY_MODEL_REGION", "us-east-1")
    sent: list[dict[str, Any]] = []
    script: list[AWSResponse] = []

    def install(responses: list[AWSResponse]) -> list[dict[str, Any]]:
        script.extend(responses)
        model = wiring.summary_model()
        assert isinstance(model, BedrockSummaryModel)

        def answer(request: Any) -> AWSResponse:
            sent.append(json.loads(request.body))
            return script.pop(0)

        answer_calls(model._client, "Converse", answer)
        return sent

    return install


def test_bedrock_gets_the_previous_summary_the_new_lines_and_the_instruction(
    api: Invoke, ddb: Any, bedrock: Callable[[list[AWSResponse]], list[dict[str, Any]]]
) -> None:
    sent = bedrock([converse_ok("Jane asked about m0 to m23."), converse_ok("Jane asked about m0 to m31.")])
    _add(api, "bedrock", 30, summary_instruction="Always mention the user's name.")
    _summarise(ddb, "bedrock")
    _add(api, "bedrock", 8, prefix="n")
    _summarise(ddb, "bedrock")

    assert len(sent) == 2
    first, second = (request["messages"][0]["content"][0]["text"] for request in sent)
    assert "Jane: m0. Some detail about m0." in first
    assert "Always mention the user's name." in first
    assert "<current_summary>\n\n</current_summary>" in first
    assert "Jane asked about m0 to m23." in second, "the previous summary reaches the next prompt"
    assert "m23" not in second.split("<new_lines>")[1], "only the new lines"
    assert sent[0]["inferenceConfig"]["temperature"] == 0
    memory = _memory(api, "bedrock")
    assert memory["summary"]["content"] == "Jane asked about m0 to m31."


def test_bedrock_throttling_is_retried_by_the_client(
    api: Invoke, ddb: Any, bedrock: Callable[[list[AWSResponse]], list[dict[str, Any]]]
) -> None:
    throttled = {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    sent = bedrock(
        [
            bedrock_response(429, {"message": "Too many requests"}, throttled),
            bedrock_response(
                503, {"message": "Service unavailable"}, {"x-amzn-errortype": "ServiceUnavailableException"}
            ),
            converse_ok("A summary after two retries."),
        ]
    )
    _add(api, "throttled", 30)
    assert _summarise(ddb, "throttled") == {"batchItemFailures": []}
    assert len(sent) == 3
    assert _memory(api, "throttled")["summary"]["content"] == "A summary after two retries."


def test_bedrock_errors_that_outlast_the_retries_fail_the_batch_not_the_api(
    api: Invoke, ddb: Any, bedrock: Callable[[list[AWSResponse]], list[dict[str, Any]]]
) -> None:
    denied = {"x-amzn-errortype": "AccessDeniedException"}
    sent = bedrock([bedrock_response(403, {"message": "not allowed"}, denied)])
    _add(api, "denied", 30)
    failures = _summarise(ddb, "denied")["batchItemFailures"]
    assert len(failures) == 30, "every record of the session is reported, to be retried"
    assert len(sent) == 1, "access denied is not retried, and the batch asks the model once per session"
    assert _memory(api, "denied")["summary"] is None
    assert len(_memory(api, "denied")["messages"]) == W


def test_summaries_are_searchable_and_summary_retriever_picks_the_one_its_newest_messages_speak_of(
    api: Invoke, ddb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUMMARY_MAX_TOKENS", "50")  # each summary keeps its newest lines only
    wiring.reset()
    _add(api, "recall", 3 * W, prefix="llama")
    assert _summarise(ddb, "recall") == {"batchItemFailures": []}
    _add(api, "recall", 3 * W, prefix="walrus")
    assert _summarise(ddb, "recall") == {"batchItemFailures": []}
    current = _memory(api, "recall")["summary"]["content"]
    assert "walrus" in current and "llama" not in current
    found = api("POST", "/api/v2/sessions/recall/search", {"text": "llama", "search_scope": "summary"})
    assert found.status == 200 and [r["message"] for r in found.body] == [None]
    assert "llama" in found.body[0]["summary"]["content"], "the older summary, by its words"
    _add(api, "recall", 1, prefix="llama")  # the newest message speaks of llamas again
    retrieved = _memory(api, "recall", "summary_retriever")
    assert len(retrieved["messages"]) == W, "the whole window, no trimming"
    assert retrieved["summary"] == found.body[0]["summary"]


def test_a_session_recreated_before_the_purge_never_finds_the_old_summaries(api: Invoke, ddb: Any) -> None:
    _add(api, "again", 3 * W, prefix="llama")
    assert _summarise(ddb, "again") == {"batchItemFailures": []}
    assert _history(ddb, "again"), "the old incarnation has summaries"
    assert api("DELETE", "/api/v2/sessions/again/memory").status == 200
    _add(api, "again", 2, prefix="llama")  # a new incarnation, before the purger ran: the old items are still there
    assert _history(ddb, "again"), "not purged yet"
    found = api("POST", "/api/v2/sessions/again/search", {"text": "llama", "search_scope": "summary"})
    assert found.status == 200 and found.body == []
    assert _memory(api, "again", "summary_retriever")["summary"] is None
