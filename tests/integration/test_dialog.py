"""Zep Cloud's dialog tools (rc6's synthesize_question and classify_session) through the handlers against moto:
offline (the lexical model), with Bedrock stubbed at the botocore level, bad input, and tenant isolation."""

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from moto.core.models import botocore_stubber

from chat_memory import wiring
from chat_memory.adapters.dialog_models import BedrockDialogModel
from tests.integration.bedrock import bedrock_response, converse_ok
from tests.integration.conftest import Invoke, all_items

SHOES = [
    ("James", "user", "I like Nike and Adidas, but I'm open to other brands too."),
    ("SalesBot", "assistant", "Great! What will you mainly use them for?"),
    ("James", "user", "I'll be using them for running. Great, I have a budget of around $120."),
    ("SalesBot", "assistant", "I'd recommend the Adidas Ultraboost 21. It is on sale at $129.99 today."),
    ("James", "user", "Do they come in a men's size 10?"),
]
CLASSES = ["running shoes", "basketball shoes", "casual wear"]


def _add(api: Invoke, session: str, turns: list[tuple[str, str, str]] = SHOES, tenant: str = "default") -> None:
    messages = [{"role": r, "role_type": t, "content": c} for r, t, c in turns]
    reply = api("POST", f"/api/v2/sessions/{session}/memory", {"messages": messages}, tenant=tenant)
    assert reply.status == 201, reply.body


def _question(api: Invoke, session: str, query: str = "lastNMessages=3", tenant: str = "default") -> Any:
    return api("GET", f"/api/v2/sessions/{session}/synthesize_question", query=query, tenant=tenant)


def _classify(api: Invoke, session: str, tenant: str = "default", **body: Any) -> Any:
    return api(
        "POST", f"/api/v2/sessions/{session}/classify", {"name": "kind", "classes": CLASSES, **body}, tenant=tenant
    )


# -- offline: the lexical model --------------------------------------------------------------------------------


def test_offline_question_is_the_users_question_with_the_names_said_before(api: Invoke) -> None:
    _add(api, "s")
    reply = _question(api, "s")
    assert reply.status == 200
    assert reply.body == {"question": "Do they come in a men's size 10 (context: Adidas Ultraboost 21, $129.99, $120)?"}
    assert _question(api, "s", "lastNMessages=1").body == {"question": "Do they come in a men's size 10?"}
    assert _question(api, "s", "lastNMessages=").body == reply.body, "empty: rc6's default of 3"


def test_offline_question_from_a_statement_says_so(api: Invoke) -> None:
    _add(api, "s", [*SHOES[:4], ("James", "user", "They look nice. I'll go with those.")])
    question = _question(api, "s", "lastNMessages=2").body["question"]
    assert question == "What about this: They look nice. I'll go with those (context: Adidas Ultraboost 21, $129.99)?"


def test_offline_question_joins_the_users_trailing_messages(api: Invoke) -> None:
    _add(api, "s", [*SHOES[:4], ("James", "user", "Nice."), ("James", "user", "Is it waterproof?")])
    question = _question(api, "s", "lastNMessages=4").body["question"]
    assert question.startswith("Is it waterproof (context: Adidas Ultraboost 21, $129.99")


def test_offline_classification_is_the_class_the_messages_share_most_words_with_and_is_persisted(
    api: Invoke,
) -> None:
    _add(api, "s")
    api("PATCH", "/api/v2/sessions/s", {"metadata": {"system": {"other": 1}, "mine": True}})
    reply = _classify(api, "s", session_id="s", last_n=5)
    assert reply.status == 200
    assert reply.body == {"name": "kind", "class": "running shoes"}
    metadata = api("GET", "/api/v2/sessions/s").body["metadata"]
    assert metadata == {"system": {"other": 1, "classes": {"kind": "running shoes"}}, "mine": True}
    # Again under another name, without persisting: only the first is kept.
    reply = _classify(api, "s", name="sport", classes=["walking", "running"], persist=False, last_n=5)
    assert reply.body == {"name": "sport", "class": "running"}
    assert api("GET", "/api/v2/sessions/s").body["metadata"]["system"]["classes"] == {"kind": "running shoes"}


def test_offline_classification_without_a_shared_word_is_other_and_last_n_defaults_to_4(api: Invoke) -> None:
    _add(api, "s")
    assert _classify(api, "s", classes=["low spender <$50", "high spender >=$100"]).body["class"] == "other"
    # The first message (the only one naming Nike) is outside the default window of the newest 4.
    assert _classify(api, "s", classes=["nike", "puma"]).body["class"] == "other"
    assert _classify(api, "s", classes=["nike", "puma"], last_n=5).body["class"] == "nike"
    assert _classify(api, "s", classes=["puma", "adidas nike"], last_n=5).body["class"] == "adidas nike"
    assert _classify(api, "s", classes=["nike", "adidas"], last_n=5).body["class"] == "nike", "a tie: the first listed"


# -- Bedrock, stubbed at the botocore level ------------------------------------------------------------------


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[AWSResponse]], list[dict[str, Any]]]:
    """Configure the summariser's Bedrock model; the dialog model's HTTP calls are answered from a script."""
    monkeypatch.setenv("SUMMARY_MODEL_ID", "anthropic.claude-3-haiku-20240307-v1:0")
    monkeypatch.setenv("SUMMARY_MODEL_REGION", "us-east-1")
    sent: list[dict[str, Any]] = []

    def install(responses: list[AWSResponse]) -> list[dict[str, Any]]:
        script = list(responses)
        model = wiring.dialog_model()
        assert isinstance(model, BedrockDialogModel)

        def answer(request: Any, **_: Any) -> AWSResponse:
            sent.append(json.loads(request.body))
            return script.pop(0)

        events: Any = model._client.meta.events
        events.unregister("before-send", botocore_stubber)
        events.register("before-send.bedrock-runtime.Converse", answer)
        return sent

    return install


def test_bedrock_writes_the_question_from_the_last_n_messages(
    api: Invoke, bedrock: Callable[[list[AWSResponse]], list[dict[str, Any]]]
) -> None:
    _add(api, "s")
    sent = bedrock([converse_ok("Does the Adidas Ultraboost 21 come in men's size 10?")])
    reply = _question(api, "s", "lastNMessages=2")
    assert reply.body == {"question": "Does the Adidas Ultraboost 21 come in men's size 10?"}
    [request] = sent
    prompt = request["messages"][0]["content"][0]["text"]
    assert "SalesBot (assistant): I'd recommend the Adidas Ultraboost 21." in prompt
    assert "James (user): Do they come in a men's size 10?" in prompt
    assert "budget" not in prompt, "only the last 2 messages"
    assert request["inferenceConfig"]["temperature"] == 0
    assert "standalone question" in request["system"][0]["text"]


def test_bedrock_chooses_the_class_by_number_and_it_is_persisted(
    api: Invoke, bedrock: Callable[[list[AWSResponse]], list[dict[str, Any]]]
) -> None:
    _add(api, "s")
    sent = bedrock([converse_ok("2"), converse_ok("0"), converse_ok("I cannot tell."), converse_ok("7")])
    assert _classify(api, "s", instruction="Think of the sport.").body == {"name": "kind", "class": "basketball shoes"}
    prompt = sent[0]["messages"][0]["content"][0]["text"]
    assert "1. running shoes\n2. basketball shoes\n3. casual wear" in prompt
    assert "<instruction>\nThink of the sport.\n</instruction>" in prompt
    assert "I like Nike" not in prompt, "the newest 4 messages by default"
    assert api("GET", "/api/v2/sessions/s").body["metadata"] == {"system": {"classes": {"kind": "basketball shoes"}}}
    for _ in range(3):  # none fits, no number, a number out of range: "other", never a made-up class
        assert _classify(api, "s").body["class"] == "other"


def test_a_failing_model_is_a_503_with_retry_after_and_nothing_is_stored(
    api: Invoke, ddb: Any, bedrock: Callable[[list[AWSResponse]], list[dict[str, Any]]]
) -> None:
    _add(api, "s")
    throttled = {"x-amzn-errortype": "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    sent = bedrock([bedrock_response(429, {"message": "Too many requests"}, throttled) for _ in range(2)])
    before = all_items(ddb)
    for reply in (_question(api, "s"), _classify(api, "s")):
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "2"
        assert "language model" in reply.body["message"]
        assert "Too many requests" not in reply.body["message"], "Bedrock's words stay in the logs"
    assert len(sent) == 2, "one attempt each: a retry could outlast the function"
    assert all_items(ddb) == before


# -- bad input, unknown sessions, other tenants ------------------------------------------------------------------


@pytest.mark.parametrize("query", ["lastNMessages=0", "lastNMessages=1001", "lastNMessages=-1", "lastNMessages=x"])
def test_last_n_messages_out_of_range_is_a_400(api: Invoke, query: str) -> None:
    _add(api, "s")
    reply = _question(api, "s", query)
    assert reply.status == 400
    assert "lastNMessages" in json.dumps(reply.body)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"classes": []}, "classes"),
        ({"classes": [f"c{i}" for i in range(101)]}, "classes"),
        ({"classes": ["a", "b", "a"]}, "same class"),
        ({"classes": ["Running  Shoes", "running shoes"]}, "same class"),
        ({"classes": ["a", "  "]}, "blank"),
        ({"classes": ["a", ""]}, "classes"),
        ({"classes": ["x" * 257]}, "classes"),
        ({"classes": "a"}, "classes"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 257}, "name"),
        ({"last_n": 0}, "last_n"),
        ({"last_n": 1001}, "last_n"),
        ({"persist": "maybe"}, "persist"),
        ({"instruction": "x" * 4001}, "instruction"),
        ({"session_id": "another"}, "session_id"),
    ],
)
def test_bad_classifications_are_400s_that_store_nothing(
    api: Invoke, ddb: Any, body: dict[str, Any], says: str
) -> None:
    _add(api, "s")
    before = all_items(ddb)
    reply = _classify(api, "s", **body)
    assert reply.status == 400, reply.body
    assert says in json.dumps(reply.body)
    assert all_items(ddb) == before


def test_a_body_without_name_or_classes_is_a_400(api: Invoke) -> None:
    _add(api, "s")
    for body in ({}, {"name": "kind"}, {"classes": CLASSES}):
        reply = api("POST", "/api/v2/sessions/s/classify", body)
        assert reply.status == 400
        assert reply.body["message"]


def test_a_session_without_messages_is_a_400(api: Invoke, ddb: Any) -> None:
    assert api("POST", "/api/v2/sessions", {"session_id": "empty"}).status == 201
    before = all_items(ddb)
    for reply in (_question(api, "empty"), _classify(api, "empty")):
        assert reply.status == 400
        assert "no messages" in reply.body["message"]
    assert all_items(ddb) == before


def test_unknown_deleted_and_other_tenants_sessions_are_404s_that_store_nothing(api: Invoke, ddb: Any) -> None:
    _add(api, "secret", tenant="a")
    _add(api, "gone")
    assert api("DELETE", "/api/v2/sessions/gone/memory").status == 200
    before = all_items(ddb)
    for session, tenant in (("never", "default"), ("gone", "default"), ("secret", "b")):
        for reply in (_question(api, session, tenant=tenant), _classify(api, session, tenant=tenant)):
            assert reply.status == 404, (session, tenant)
            assert reply.body == {"message": f"session {session!r} not found"}
    assert all_items(ddb) == before
    assert "classes" not in json.dumps(api("GET", "/api/v2/sessions/secret", tenant="a").body)


def test_classify_replays_its_answer_for_an_idempotency_key(api: Invoke) -> None:
    _add(api, "s")
    headers = {"Idempotency-Key": "classify-1"}
    body = {"name": "kind", "classes": CLASSES, "last_n": 5}
    first = api("POST", "/api/v2/sessions/s/classify", body, headers=headers)
    again = api("POST", "/api/v2/sessions/s/classify", body, headers=headers)
    assert first.status == again.status == 200
    assert again.body == first.body
    assert again.headers.get("Idempotent-Replayed") == "true"
