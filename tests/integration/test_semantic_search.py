"""Semantic search with an embedding model (Amazon Bedrock, stubbed at the botocore level): the embedder keeps each
message's embedding on its item from the stream; search fuses it with the lexical ranking; a changed text loses its
embedding in the same write; a model that fails leaves search lexical, never failing."""

import json
import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from chat_memory import wiring
from chat_memory.adapters.embedders import BedrockTextEmbedder
from chat_memory.handlers import embedder
from tests.http_events import FakeContext
from tests.integration.bedrock import answer_calls, bedrock_response
from tests.integration.conftest import TABLE, Invoke, all_items, run_purger

MODEL = "amazon.titan-embed-text-v2:0"
SEARCH = "/api/v2/sessions/s/search"
# A toy model of meaning: words of one group point the same way, every other word its own way.
_GROUPS = [{"puppy", "dog", "canine", "hound"}, {"car", "vehicle", "automobile", "sedan"}]


def _toy_embedding(text: str) -> list[float]:
    vector = [0.0] * 256
    for word in text.lower().replace("?", " ").replace(".", " ").split():
        group = next((g for g, words in enumerate(_GROUPS) if word in words), None)
        axis = group if group is not None else 2 + hash(word) % 254
        vector[axis] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


class Bedrock:
    """The embedding model's calls: the requests sent, and whether it answers."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.down = False

    def answer(self, request: Any) -> AWSResponse:
        body = json.loads(request.body)
        self.sent.append(body)
        if self.down:
            return bedrock_response(500, {"message": "injected"}, {"x-amzn-errortype": "InternalServerException"})
        return bedrock_response(200, {"embedding": _toy_embedding(body["inputText"]), "inputTextTokenCount": 3})


@pytest.fixture
def bedrock(ddb: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bedrock]:
    monkeypatch.setenv("EMBEDDING_MODEL_ID", MODEL)
    monkeypatch.setenv("EMBEDDING_MODEL_REGION", "us-east-1")
    wiring.reset()
    model = Bedrock()
    for client in (wiring.query_embedder(), wiring.message_embedder()):
        assert isinstance(client, BedrockTextEmbedder)
        answer_calls(client._client, "InvokeModel", model.answer)
    yield model
    wiring.reset()


def _message_items(ddb: Any) -> list[dict[str, Any]]:
    return [i for i in all_items(ddb) if i["SK"]["S"].startswith("MSG#")]


def _embed_all(ddb: Any) -> dict[str, Any]:
    """Run the embedder on what the stream's filter passes: every message item without an embedding."""
    records = [
        {
            "eventID": uuid.uuid4().hex,
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "dynamodb": {
                "ApproximateCreationDateTime": 1_700_000_000,
                "Keys": {"PK": item["PK"], "SK": item["SK"]},
                "NewImage": item,
                "SequenceNumber": f"{n + 1:021d}",
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            },
            "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}/stream/2026",
        }
        for n, item in enumerate(i for i in _message_items(ddb) if "vm" not in i)
    ]
    return dict(embedder.lambda_handler({"Records": records}, FakeContext()))


def _add(api: Invoke, *texts: str, uuids: list[str] | None = None) -> list[str]:
    messages = [{"role": "Jane", "role_type": "user", "content": t} for t in texts]
    for message, given in zip(messages, uuids or [], strict=False):
        message["uuid"] = given
    reply = api("POST", "/api/v2/sessions/s/memory", {"messages": messages})
    assert reply.status == 201
    return [m["uuid"] for m in reply.body["messages"]]


def _found(api: Invoke, text: str) -> list[str]:
    reply = api("POST", SEARCH, {"text": text})
    assert reply.status == 200
    return [r["message"]["content"] for r in reply.body]


Search = Callable[[Invoke, str], list[str]]


def test_a_message_is_found_by_meaning_once_embedded_and_by_its_words_at_once(
    api: Invoke, ddb: Any, bedrock: Bedrock
) -> None:
    _add(api, "we adopted a puppy last spring", "the weather was mild", "I sold my sedan")
    assert _found(api, "canine") == [], "nothing shares a word with it, and nothing is embedded yet"
    assert bedrock.sent == [], "no embedding, no query embedding"
    assert _found(api, "puppy")[0] == "we adopted a puppy last spring"
    assert _embed_all(ddb) == {"batchItemFailures": []}
    assert bedrock.sent[0] == {"inputText": "we adopted a puppy last spring", "dimensions": 256, "normalize": True}
    assert all(len(i["vec"]["B"]) == 256 and i["vm"]["S"] == f"{MODEL}/256" for i in _message_items(ddb))
    assert _found(api, "canine")[0] == "we adopted a puppy last spring"
    assert _found(api, "automobile")[0] == "I sold my sedan"
    window = api("GET", "/api/v2/sessions/s/memory").body["messages"]
    assert all(set(m) >= {"uuid", "content"} and "vec" not in m and "vm" not in m for m in window)


def test_a_changed_text_loses_its_embedding_at_once_and_a_metadata_change_keeps_it(
    api: Invoke, ddb: Any, bedrock: Bedrock
) -> None:
    (first,) = _add(api, "my dog barks at night")
    _embed_all(ddb)
    assert api("PATCH", f"/api/v2/sessions/s/messages/{first}", {"metadata": {"tag": "pets"}}).status == 200
    assert "vm" in _message_items(ddb)[0], "a metadata change keeps the embedding (the filter lets no record through)"
    stale = _message_items(ddb)[0]
    _add(api, "my car makes a noise", uuids=[first])
    assert "vm" not in _message_items(ddb)[0] and "vec" not in _message_items(ddb)[0]
    assert _found(api, "canine") == [], "the old text's embedding went with it"
    # A late record of the old text: the condition on the text refuses its embedding.
    saved = wiring.embed_message().store.save_embedding
    assert not saved("default", "s", int(stale["SK"]["S"][4:]), "my dog barks at night", _embedding_of(stale), 100)
    _embed_all(ddb)
    assert _found(api, "vehicle") == ["my car makes a noise"]


def _embedding_of(item: dict[str, Any]) -> Any:
    from chat_memory.adapters.dynamodb.embeddings import embedding_from_item

    return embedding_from_item(item)


def test_when_the_model_fails_search_ranks_by_words_and_the_embedder_reports_for_a_retry(
    api: Invoke, ddb: Any, bedrock: Bedrock
) -> None:
    _add(api, "we adopted a puppy", "the puppy sleeps a lot")
    _embed_all(ddb)
    bedrock.down = True
    assert sorted(_found(api, "puppy")) == ["the puppy sleeps a lot", "we adopted a puppy"], "lexical only"
    _add(api, "a new puppy photo")
    result = _embed_all(ddb)
    assert len(result["batchItemFailures"]) == 1, "retried by the stream, then the dead-letter queue"


def test_a_deleted_session_leaves_no_embedding_and_no_change_marker(api: Invoke, ddb: Any, bedrock: Bedrock) -> None:
    (first,) = _add(api, "the dog's name is Rex")
    _embed_all(ddb)
    assert api("PATCH", f"/api/v2/sessions/s/messages/{first}", {"metadata": {"n": 1}}).status == 200
    assert any(i["SK"]["S"].startswith("CHANGED#") for i in all_items(ddb))
    assert api("DELETE", "/api/v2/sessions/s/memory").status == 200
    assert api("POST", SEARCH, {"text": "dog"}).status == 404
    run_purger(ddb)
    assert [i for i in all_items(ddb) if i["PK"]["S"].endswith("#S#s")] == []
