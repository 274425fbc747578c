"""zep-python 1.5.0 and LangChain's community Zep classes, unmodified, against `chat-memory serve`'s /api/v1.

Run by tests/compat/test_zep1_clients.py inside .venv-zep1 (zep-python 1.5.0, langchain-community 0.3), with the
server's URL and key in CHAT_MEMORY_URL and CHAT_MEMORY_API_KEY. Nothing here reaches past loopback.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import pytest
from langchain.chains import ConversationChain
from langchain_community.chat_message_histories import ZepChatMessageHistory
from langchain_community.memory.zep_memory import ZepMemory
from langchain_community.retrievers import ZepRetriever
from langchain_community.retrievers.zep import SearchScope, SearchType
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from zep_python import APIError, NotFoundError, ZepClient
from zep_python.memory import Memory, MemorySearchPayload, Session
from zep_python.message import Message
from zep_python.user import CreateUserRequest, UpdateUserRequest

URL = os.environ["CHAT_MEMORY_URL"]
KEY = os.environ["CHAT_MEMORY_API_KEY"]
TOPICS = ["otters", "volcanoes", "violins", "glaciers", "comets"]


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _conversation(n: int) -> list[Message]:
    return [
        Message(role="human" if i % 2 == 0 else "ai", content=f"turn {i}: a remark about {TOPICS[i % len(TOPICS)]}")
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def client() -> Any:
    zep = ZepClient(base_url=URL, api_key=KEY)
    yield zep
    zep.close()


@pytest.fixture(scope="module")
def summarised(client: Any) -> str:
    """A session long enough for the server's summariser (the window is 12): 30 messages and a summary."""
    session_id = _id("long")
    client.memory.add_memory(session_id, Memory(messages=_conversation(30)))
    # Polls for the event (the background summariser's write); the bound only tells "never" from "later".
    deadline = time.monotonic() + 300
    while client.memory.get_memory(session_id).summary is None:
        assert time.monotonic() < deadline, "no summary after 300 s: the summariser never ran"
        time.sleep(0.2)
    return session_id


# ------------------------------------------------------------------------------------------- LangChain


def test_chat_message_history_adds_reads_searches_and_clears() -> None:
    history = ZepChatMessageHistory(session_id=_id("history"), url=URL, api_key=KEY)
    assert history.messages == []  # an unknown session reads as empty
    history.add_user_message("Who was Octavia Butler?")
    history.add_ai_message("An American science fiction author.", metadata={"source": "wiki"})
    messages = history.messages
    assert [type(m) for m in messages] == [HumanMessage, AIMessage]
    assert [m.content for m in messages] == ["Who was Octavia Butler?", "An American science fiction author."]
    assert messages[1].additional_kwargs["metadata"] == {"source": "wiki"}
    assert messages[0].additional_kwargs["token_count"] > 0 and messages[0].additional_kwargs["uuid"]
    assert history.zep_summary is None

    results = history.search("science fiction author", limit=2)
    assert results and results[0].message["content"] == "An American science fiction author."
    assert 0 < results[0].dist <= 1

    history.clear()
    assert history.messages == []
    # Clearing a session that is gone: Zep 0.27 answers 404 as we do, and LangChain's handler of it names
    # NotFoundError, which it imports only for type checkers: its own NameError, whatever the server.
    with pytest.raises(NameError):
        history.clear()


def test_chat_message_history_shows_the_summary_first(summarised: str) -> None:
    history = ZepChatMessageHistory(session_id=summarised, url=URL, api_key=KEY)
    messages = history.messages
    assert isinstance(messages[0], SystemMessage) and messages[0].content == history.zep_summary
    assert "remark" in history.zep_summary
    assert all(isinstance(m, (HumanMessage, AIMessage)) for m in messages[1:]) and len(messages) > 1


def test_chat_message_history_async_add_and_clear() -> None:
    history = ZepChatMessageHistory(session_id=_id("ahistory"), url=URL, api_key=KEY)

    async def run() -> None:
        await history.aadd_messages([HumanMessage(content="hello"), AIMessage(content="hi there")])
        await history.aclear()

    history.add_messages([HumanMessage(content="first")])
    asyncio.run(run())
    assert history.messages == []


def test_zep_memory_in_a_chain_saves_and_loads_the_context() -> None:
    session_id = _id("chain")
    memory = ZepMemory(session_id=session_id, url=URL, api_key=KEY, memory_key="history")
    chain = ConversationChain(llm=FakeListLLM(responses=["Kindred and Parable of the Sower."]), memory=memory)
    answer = chain.invoke({"input": "Which of her books should I read first?"})
    assert answer["response"] == "Kindred and Parable of the Sower."

    memory.save_context({"input": "And after those?"}, {"output": "Wild Seed."})
    history = memory.load_memory_variables({})["history"]
    assert "Human: Which of her books should I read first?" in history
    assert "AI: Kindred and Parable of the Sower." in history and "AI: Wild Seed." in history

    as_messages = ZepMemory(session_id=session_id, url=URL, api_key=KEY, return_messages=True)
    loaded = as_messages.load_memory_variables({})["history"]
    assert [m.content for m in loaded][-2:] == ["And after those?", "Wild Seed."]
    memory.clear()
    assert as_messages.load_memory_variables({})["history"] == []


@pytest.mark.parametrize("search_type", [SearchType.similarity, SearchType.mmr])
def test_retriever_over_messages(summarised: str, search_type: SearchType) -> None:
    retriever = ZepRetriever(
        session_id=summarised, url=URL, api_key=KEY, top_k=3, search_type=search_type, mmr_lambda=0.5
    )
    documents = retriever.invoke("volcanoes")
    assert 1 <= len(documents) <= 3
    assert all("volcanoes" in d.page_content for d in documents[:1])
    assert all(0 < d.metadata["score"] <= 1 and d.metadata["uuid"] for d in documents)
    again = asyncio.run(retriever.ainvoke("volcanoes"))
    assert [d.page_content for d in again] == [d.page_content for d in documents]


@pytest.mark.parametrize("search_type", [SearchType.similarity, SearchType.mmr])
def test_retriever_over_summaries(summarised: str, search_type: SearchType) -> None:
    retriever = ZepRetriever(
        session_id=summarised, url=URL, api_key=KEY, top_k=2, search_scope=SearchScope.summary, search_type=search_type
    )
    documents = retriever.invoke("remark about comets")
    assert documents and "remark" in documents[0].page_content
    assert documents[0].metadata["uuid"] and 0 < documents[0].metadata["score"] <= 1


def test_an_unknown_session_searches_as_not_found() -> None:
    retriever = ZepRetriever(session_id=_id("none"), url=URL, api_key=KEY, top_k=3)
    with pytest.raises(NotFoundError):
        retriever.invoke("anything")


# ---------------------------------------------------------------------------------- zep-python 1.5.0


def test_memory_and_messages_sync(client: Any) -> None:
    session_id = _id("sync")
    assert client.memory.add_memory(session_id, Memory(messages=_conversation(4))) == "OK"
    memory = client.memory.get_memory(session_id)
    assert [m.content for m in memory.messages] == [m.content for m in _conversation(4)]
    assert [m.content for m in client.memory.get_memory(session_id, lastn=2).messages] == [
        m.content for m in _conversation(4)[2:]
    ]
    messages = client.message.get_session_messages(session_id, limit=3, cursor=1)
    assert len(messages) == 3
    uuid_ = memory.messages[0].uuid
    assert client.message.get_session_message(session_id, uuid_).content == memory.messages[0].content
    updated = client.message.update_message_metadata(session_id, uuid_, {"metadata": {"mood": "curious"}})
    assert updated.metadata == {"mood": "curious"}
    hits = client.memory.search_memory(session_id, MemorySearchPayload(text="glaciers"), limit=2)
    assert hits[0].message["content"] == "turn 3: a remark about glaciers" and hits[0].dist == 1
    assert client.memory.delete_memory(session_id) == "OK"
    with pytest.raises(NotFoundError):
        client.memory.get_memory(session_id)
    with pytest.raises(NotFoundError):
        client.memory.delete_memory(session_id)


def test_users_and_sessions_sync(client: Any) -> None:
    user_id = _id("user")
    user = client.user.add(CreateUserRequest(user_id=user_id, email="jane@example.com", metadata={"a": 1}))
    assert user.user_id == user_id and user.uuid is not None
    assert client.user.get(user_id).email == "jane@example.com"
    updated = client.user.update(UpdateUserRequest(user_id=user_id, first_name="Jane", metadata={"b": 2}))
    assert (updated.first_name, updated.metadata) == ("Jane", {"a": 1, "b": 2})

    session_id = _id("session")
    session = client.memory.add_session(Session(session_id=session_id, user_id=user_id, metadata={"x": 1}))
    assert (session.session_id, session.user_id) == (session_id, user_id)
    assert client.memory.get_session(session_id).metadata == {"x": 1}
    assert client.memory.update_session(Session(session_id=session_id, metadata={"y": 2})).metadata == {"x": 1, "y": 2}
    assert [s.session_id for s in client.user.get_sessions(user_id)] == [session_id]
    listed = [s.session_id for chunk in client.memory.list_all_sessions(chunk_size=2) for s in chunk]
    assert session_id in listed and len(listed) == len(set(listed))
    assert session_id in [s.session_id for s in client.memory.list_sessions(limit=1000)]
    users = [u.user_id for chunk in client.user.list_chunked(chunk_size=2) for u in chunk]
    assert user_id in users and user_id in [u.user_id for u in client.user.list(limit=1000)]

    with pytest.raises(APIError):  # 409: it exists
        client.memory.add_session(Session(session_id=session_id))
    client.user.delete(user_id)  # returns nothing
    with pytest.raises(NotFoundError):
        client.user.get(user_id)
    with pytest.raises(NotFoundError):
        client.memory.get_session(session_id)  # a deleted user's sessions go with them


def test_the_async_calls(client: Any) -> None:
    async def run() -> None:
        async with ZepClient(base_url=URL, api_key=KEY) as zep:
            user_id, session_id = _id("auser"), _id("asession")
            await zep.user.aadd(CreateUserRequest(user_id=user_id))
            assert (await zep.user.aget(user_id)).user_id == user_id
            await zep.user.aupdate(UpdateUserRequest(user_id=user_id, last_name="Doe"))
            await zep.memory.aadd_session(Session(session_id=session_id, user_id=user_id))
            assert (await zep.memory.aget_session(session_id)).user_id == user_id
            await zep.memory.aupdate_session(Session(session_id=session_id, metadata={"k": "v"}))
            assert await zep.memory.aadd_memory(session_id, Memory(messages=_conversation(3))) == "OK"
            memory = await zep.memory.aget_memory(session_id, lastn=2)
            assert [m.content for m in memory.messages] == [m.content for m in _conversation(3)[1:]]
            messages = await zep.message.aget_session_messages(session_id)
            assert len(messages) == 3
            one = await zep.message.aget_session_message(session_id, messages[0].uuid)
            assert one.uuid == messages[0].uuid
            await zep.message.aupdate_message_metadata(session_id, one.uuid, {"metadata": {"n": 1}})
            hits = await zep.memory.asearch_memory(session_id, MemorySearchPayload(text="violins"))
            assert hits[0].message["content"] == "turn 2: a remark about violins"
            assert [s.session_id for s in await zep.user.aget_sessions(user_id)] == [session_id]
            assert session_id in [s.session_id for s in await zep.memory.alist_sessions(limit=1000)]
            assert user_id in [u.user_id for u in await zep.user.alist(limit=1000)]
            assert await zep.memory.adelete_memory(session_id) == "OK"
            await zep.user.adelete(user_id)
            with pytest.raises(NotFoundError):
                await zep.memory.aget_memory(session_id)

    asyncio.run(run())


def test_the_document_store_says_it_is_not_served(client: Any) -> None:
    with pytest.raises(APIError) as raised:
        client.document.add_collection(name="documents", embedding_dimensions=8, is_auto_embedded=True)
    assert raised.value.response_data["status_code"] == 501
    assert "document store (collections and documents) is not served" in raised.value.response_data["message"]
