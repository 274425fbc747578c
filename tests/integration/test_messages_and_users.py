"""Messages, sessions with users, users, and forgetting a user: the handlers against moto."""

import uuid
from typing import Any

import pytest

from tests.integration.conftest import CallLog, Invoke, all_items, data_items, receipts, run_purger


def _add(api: Invoke, session: str, count: int, prefix: str = "m", **extra: Any) -> list[dict[str, Any]]:
    messages = [{"role": "Jane", "role_type": "user", "content": f"{prefix}{i}", **extra} for i in range(count)]
    reply = api("POST", f"/api/v2/sessions/{session}/memory", {"messages": messages})
    assert reply.status == 201, reply.body
    added: list[dict[str, Any]] = reply.body["messages"]
    return added


def _page(api: Invoke, session: str, limit: int | str, cursor: int | str) -> dict[str, Any]:
    reply = api("GET", f"/api/v2/sessions/{session}/messages", query=f"limit={limit}&cursor={cursor}")
    assert reply.status == 200, reply.body
    page: dict[str, Any] = reply.body
    return page


def _user(api: Invoke, user_id: str, **fields: Any) -> dict[str, Any]:
    reply = api("POST", "/api/v2/users", {"user_id": user_id, **fields})
    assert reply.status == 201, reply.body
    user: dict[str, Any] = reply.body
    return user


# -- messages ----------------------------------------------------------------------------------------------


def test_message_pages_run_oldest_first_by_page_number(api: Invoke) -> None:
    _add(api, "pages", 7)
    first = _page(api, "pages", 3, 1)
    assert [m["content"] for m in first["messages"]] == ["m0", "m1", "m2"]
    assert (first["total_count"], first["row_count"]) == (7, 3)
    assert [m["content"] for m in _page(api, "pages", 3, 3)["messages"]] == ["m6"]
    assert [m["content"] for m in _page(api, "pages", 1, 5)["messages"]] == ["m4"]
    past = _page(api, "pages", 3, 4)
    assert (past["messages"], past["total_count"], past["row_count"]) == ([], 7, 0)
    everything = _page(api, "pages", "", "")
    assert len(everything["messages"]) == 7, "blank limit and cursor: the first page of 100"


def test_an_empty_session_has_an_empty_first_page(api: Invoke) -> None:
    assert api("POST", "/api/v2/sessions", {"session_id": "empty"}).status == 201
    assert _page(api, "empty", 10, 1) == {"messages": [], "total_count": 0, "row_count": 0}


def test_total_count_counts_new_messages_not_updates(api: Invoke) -> None:
    known = str(uuid.uuid4())
    _add(api, "count", 2)
    _add(api, "count", 1, uuid=known)
    _add(api, "count", 1, uuid=known)
    assert _page(api, "count", 10, 1)["total_count"] == 3


def test_message_pages_of_unknown_sessions_and_bad_paging_are_refused(api: Invoke) -> None:
    assert api("GET", "/api/v2/sessions/nobody/messages").status == 404
    _add(api, "paging", 1)
    for query in ("limit=0&cursor=1", "limit=1&cursor=0", "limit=x&cursor=1", "limit=1001&cursor=1"):
        assert api("GET", "/api/v2/sessions/paging/messages", query=query).status == 400, query


def test_a_message_is_found_by_uuid_without_a_scan(api: Invoke, calls: CallLog) -> None:
    added = _add(api, "lookup", 50)
    target = added[37]
    assert uuid.UUID(target["uuid"]).version == 8, "ours: the uuid carries where the message is stored"
    calls.clear()
    reply = api("GET", f"/api/v2/sessions/lookup/messages/{target['uuid']}")
    assert reply.status == 200
    assert (reply.body["uuid"], reply.body["content"], reply.body["created_at"]) == (
        target["uuid"],
        "m37",
        target["created_at"],
    )
    assert calls.named("Scan") == []
    assert calls.named("Query") == [], "our uuid is the message's key: no index lookup"
    message_gets = [g for g in calls.named("GetItem") if g["Key"]["SK"]["S"].startswith("MSG#")]
    assert len(message_gets) == 1
    assert message_gets[0]["ConsistentRead"] is True


def test_a_callers_uuid_is_found_through_the_uuid_index(api: Invoke, calls: CallLog) -> None:
    own = str(uuid.uuid4())
    (added,) = _add(api, "caller", 1, uuid=own)
    assert added["uuid"] == own
    calls.clear()
    reply = api("GET", f"/api/v2/sessions/caller/messages/{own}")
    assert (reply.status, reply.body["content"]) == (200, "m0")
    (lsi_query,) = [q for q in calls.named("Query") if q.get("IndexName") == "MessagesByUuid"]
    assert lsi_query["ConsistentRead"] is True


def test_a_callers_uuid_that_looks_like_ours_is_a_message_of_its_own(api: Invoke) -> None:
    """A caller may send a uuid of our form (a copy of one we handed out, from another session, or made up): it is
    stored as a caller's uuid, found through the index, and never mistaken for the message its timestamp names."""
    (ours,) = _add(api, "lookalike", 1, prefix="ours")
    (theirs,) = _add(api, "lookalike", 1, prefix="theirs", uuid=ours["uuid"].replace(ours["uuid"][-4:], "0000"))
    _add(api, "lookalike-other", 1, prefix="copied", uuid=ours["uuid"])
    assert theirs["uuid"] != ours["uuid"]
    for message, content in ((ours, "ours0"), (theirs, "theirs0")):
        reply = api("GET", f"/api/v2/sessions/lookalike/messages/{message['uuid']}")
        assert (reply.status, reply.body["content"]) == (200, content)
    reply = api("GET", f"/api/v2/sessions/lookalike-other/messages/{ours['uuid']}")
    assert (reply.status, reply.body["content"]) == (200, "copied0")
    patched = api("PATCH", f"/api/v2/sessions/lookalike/messages/{theirs['uuid']}", {"metadata": {"k": 1}})
    assert (patched.status, patched.body["metadata"]) == (200, {"k": 1})
    # Resending our uuid updates our message in place; resending theirs updates theirs.
    (again,) = _add(api, "lookalike", 1, prefix="ours-again", uuid=ours["uuid"])
    assert (again["uuid"], again["created_at"]) == (ours["uuid"], ours["created_at"])
    reply = api("GET", f"/api/v2/sessions/lookalike/messages/{ours['uuid']}")
    assert reply.body["content"] == "ours-again0"
    assert _page(api, "lookalike", 10, 1)["total_count"] == 2


def test_unknown_or_malformed_message_ids(api: Invoke) -> None:
    _add(api, "ids", 1)
    assert api("GET", f"/api/v2/sessions/ids/messages/{uuid.uuid4()}").status == 404
    assert api("GET", f"/api/v2/sessions/nobody/messages/{uuid.uuid4()}").status == 404
    reply = api("GET", "/api/v2/sessions/ids/messages/not-a-uuid")
    assert reply.status == 400
    assert "UUID" in reply.body["message"]


def test_message_metadata_is_deep_merged_and_token_count_survives(api: Invoke) -> None:
    (added,) = _add(api, "meta", 1, metadata={"a": {"b": 1, "c": [1]}, "keep": True})
    path = f"/api/v2/sessions/meta/messages/{added['uuid']}"
    reply = api("PATCH", path, {"metadata": {"a": {"c": [2], "d": {"e": 3}}, "new": None}})
    assert reply.status == 200, reply.body
    expected = {"a": {"b": 1, "c": [2], "d": {"e": 3}}, "keep": True, "new": None}
    assert reply.body["metadata"] == expected
    again = api("GET", path).body
    assert again["metadata"] == expected
    assert (again["token_count"], again["content"]) == (added["token_count"], "m0")


def test_metadata_can_be_added_to_a_message_without_any(api: Invoke) -> None:
    (added,) = _add(api, "bare", 1)
    reply = api("PATCH", f"/api/v2/sessions/bare/messages/{added['uuid']}", {"metadata": {"feedback": "up"}})
    assert reply.body["metadata"] == {"feedback": "up"}


@pytest.mark.parametrize("body", [{}, {"metadata": "x"}, {"metadata": {"n": float("inf")}}])
def test_bad_message_metadata_updates_are_refused(api: Invoke, body: dict[str, Any]) -> None:
    (added,) = _add(api, "badmeta", 1, metadata={"k": 1})
    assert api("PATCH", f"/api/v2/sessions/badmeta/messages/{added['uuid']}", raw_body=_json(body)).status == 400
    assert api("GET", f"/api/v2/sessions/badmeta/messages/{added['uuid']}").body["metadata"] == {"k": 1}


def _json(body: dict[str, Any]) -> str:
    import json

    return json.dumps(body)  # NaN/Infinity as Python writes them: not JSON, which is the point


# -- sessions and users ------------------------------------------------------------------------------------


def test_a_session_may_only_name_an_existing_user(api: Invoke, ddb: Any) -> None:
    reply = api("POST", "/api/v2/sessions", {"session_id": "s", "user_id": "ghost"})
    assert reply.status == 400
    assert "names no user" in reply.body["message"]
    assert all_items(ddb) == []
    _user(api, "ann")
    assert api("POST", "/api/v2/sessions", {"session_id": "s", "user_id": "ann"}).status == 201
    assert api("PATCH", "/api/v2/sessions/s", {"user_id": "ghost"}).status == 400
    assert api("GET", "/api/v2/sessions/s").body["user_id"] == "ann"


def test_users_crud_with_deep_merge(api: Invoke) -> None:
    created = _user(api, "bob", email="b@x.io", first_name="Bob", metadata={"a": {"b": 1}, "n": 1})
    uuid.UUID(created["uuid"])
    assert api("POST", "/api/v2/users", {"user_id": "bob"}).status == 409
    updated = api("PATCH", "/api/v2/users/bob", {"user_id": "bob", "last_name": "Lee", "metadata": {"a": {"c": 2}}})
    assert updated.status == 200
    body = updated.body
    assert (body["email"], body["first_name"], body["last_name"]) == ("b@x.io", "Bob", "Lee")
    assert body["metadata"] == {"a": {"b": 1, "c": 2}, "n": 1}
    assert body["created_at"] == created["created_at"]
    assert body["updated_at"] >= created["updated_at"]
    assert api("GET", "/api/v2/users/bob").body == body
    assert api("GET", "/api/v2/users/nobody").status == 404
    assert api("PATCH", "/api/v2/users/nobody", {"email": "x"}).status == 404
    assert api("PATCH", "/api/v2/users/bob", {"user_id": "other"}).status == 400


def test_users_list_by_offset_in_creation_order(api: Invoke) -> None:
    for i in range(5):
        _user(api, f"u{i}")
    pages = [api("GET", "/api/v2/users", query=f"limit=2&cursor={offset}").body for offset in (0, 2, 4, 6)]
    assert [[u["user_id"] for u in page] for page in pages] == [["u0", "u1"], ["u2", "u3"], ["u4"], []]


def test_a_users_sessions_come_from_the_index(api: Invoke, calls: CallLog) -> None:
    _user(api, "cat")
    _user(api, "dan")
    for name, user in (("c1", "cat"), ("d1", "dan"), ("c2", "cat")):
        assert api("POST", "/api/v2/sessions", {"session_id": name, "user_id": user}).status == 201
    calls.clear()
    reply = api("GET", "/api/v2/users/cat/sessions")
    assert [s["session_id"] for s in reply.body] == ["c1", "c2"]
    assert calls.named("Scan") == []
    assert any(q.get("IndexName") == "SessionsByUser" for q in calls.named("Query"))
    assert api("GET", "/api/v2/users/nobody/sessions").status == 404


def test_sessions_page_in_o_page_with_a_token(api: Invoke, calls: CallLog) -> None:
    for i in range(5):
        assert api("POST", "/api/v2/sessions", {"session_id": f"s{i}"}).status == 201
    seen: list[str] = []
    token = ""
    while True:
        calls.clear()
        reply = api("GET", "/api/v2/sessions", query=f"limit=2&page_token={token}")
        assert reply.status == 200
        assert len(calls.named("Query")) == 1, "one Query per page, whatever the offset"
        seen += [s["session_id"] for s in reply.body]
        token = reply.headers.get("X-Next-Page-Token", "")
        if not token:
            break
    assert seen == [f"s{i}" for i in range(5)]


@pytest.mark.parametrize("token", ["garbage", "eyJHU0kxUEsiOnsiUyI6IlQjb3RoZXIjU0VTU0lPTlMifX0"])
def test_forged_page_tokens_are_refused(api: Invoke, token: str) -> None:
    reply = api("GET", "/api/v2/sessions", query=f"page_token={token}")
    assert reply.status == 400
    assert "page_token" in reply.body["message"]


# -- forgetting a user -------------------------------------------------------------------------------------


def test_deleting_a_user_forgets_them_and_their_sessions_at_once(api: Invoke, ddb: Any) -> None:
    _user(api, "eve", email="e@x.io")
    _user(api, "fay")
    for name, user in (("e1", "eve"), ("e2", "eve"), ("f1", "fay")):
        assert api("POST", "/api/v2/sessions", {"session_id": name, "user_id": user}).status == 201
        _add(api, name, 20)
    (message,) = _page(api, "e1", 1, 1)["messages"]

    assert api("DELETE", "/api/v2/users/eve").status == 200
    for path in ("/api/v2/users/eve", "/api/v2/users/eve/sessions", "/api/v2/sessions/e1", "/api/v2/sessions/e2",
                 "/api/v2/sessions/e1/memory", "/api/v2/sessions/e1/messages",
                 f"/api/v2/sessions/e1/messages/{message['uuid']}"):  # fmt: skip
        assert api("GET", path).status == 404, path
    assert [u["user_id"] for u in api("GET", "/api/v2/users").body] == ["fay"]
    assert [s["session_id"] for s in api("GET", "/api/v2/sessions").body] == ["f1"]
    assert api("DELETE", "/api/v2/users/eve").status == 404

    assert run_purger(ddb) == {"batchItemFailures": []}
    left = {item["PK"]["S"] for item in data_items(ddb)}
    assert left == {"T#default#U#fay", "T#default#S#f1"}, "nothing of eve's is stored any more"
    assert sorted((r["session_id"], r["reason"]) for r in receipts(ddb)) == [
        ("e1", "user_delete"),
        ("e2", "user_delete"),
    ]
    assert len(_page(api, "f1", 100, 1)["messages"]) == 20
    assert _user(api, "eve")["user_id"] == "eve", "the id is free again"
    assert api("GET", "/api/v2/users/eve/sessions").body == []


def test_a_deleted_users_id_is_free_at_once_and_the_new_user_never_sees_the_old_ones_sessions(
    api: Invoke, ddb: Any
) -> None:
    old = _user(api, "ann")
    for session in ("a1", "a2"):
        assert api("POST", "/api/v2/sessions", {"session_id": session, "user_id": "ann"}).status == 201
        _add(api, session, 5)
    from chat_memory import wiring

    store = wiring.dynamo_store()
    original = store.user_sessions
    store.user_sessions = lambda *_: iter(())  # type: ignore[method-assign]  # a2 and a1 missed by the index
    try:
        assert api("DELETE", "/api/v2/users/ann").status == 200
    finally:
        store.user_sessions = original  # type: ignore[method-assign]
    from tests.http_events import FakeContext
    from tests.integration.conftest import tombstone_event

    deleted = tombstone_event(ddb)  # the stream record of the user's tombstone, for the purger later
    assert api("GET", "/api/v2/sessions/a1").status == 200, "not yet buried: the purger's sweep will"

    again = api("POST", "/api/v2/users", {"user_id": "ann", "email": "new@x.io"})
    assert again.status == 201, "created again at once, before the purge"
    assert again.body["uuid"] != old["uuid"]
    assert api("GET", "/api/v2/users/ann").body["email"] == "new@x.io"
    assert api("GET", "/api/v2/users/ann/sessions").body == [], "the old incarnation's sessions are not the new one's"
    assert api("POST", "/api/v2/sessions", {"session_id": "a3", "user_id": "ann"}).status == 201
    _add(api, "a3", 2)
    assert [s["session_id"] for s in api("GET", "/api/v2/users/ann/sessions").body] == ["a3"]

    from chat_memory.handlers import purger

    assert purger.lambda_handler(deleted, FakeContext()) == {"batchItemFailures": []}  # sweeps the old sessions
    assert run_purger(ddb) == {"batchItemFailures": []}  # their tombstones
    for session in ("a1", "a2"):
        assert api("GET", f"/api/v2/sessions/{session}").status == 404
    assert api("GET", "/api/v2/users/ann").body["uuid"] == again.body["uuid"], "the new user stays"
    assert len(_page(api, "a3", 10, 1)["messages"]) == 2
    left = {item["PK"]["S"] for item in data_items(ddb)}
    assert left == {"T#default#U#ann", "T#default#S#a3"}, "nothing of the old incarnation is stored any more"
    assert sorted((r["session_id"], r["reason"]) for r in receipts(ddb)) == [
        ("a1", "user_delete"),
        ("a2", "user_delete"),
    ]


def test_the_purger_buries_a_session_the_user_index_had_not_shown_yet(api: Invoke, ddb: Any) -> None:
    _user(api, "gil")
    assert api("POST", "/api/v2/sessions", {"session_id": "g1", "user_id": "gil"}).status == 201
    from chat_memory import wiring

    store = wiring.dynamo_store()
    original = store.user_sessions
    store.user_sessions = lambda *_: iter(())  # type: ignore[method-assign]  # a lagging index
    try:
        assert api("DELETE", "/api/v2/users/gil").status == 200
    finally:
        store.user_sessions = original  # type: ignore[method-assign]
    assert api("GET", "/api/v2/sessions/g1").status == 200, "missed by the lagging index"
    assert run_purger(ddb) == {"batchItemFailures": []}  # the user's tombstone: sweep again
    assert api("GET", "/api/v2/sessions/g1").status == 404
    assert run_purger(ddb) == {"batchItemFailures": []}  # the session's tombstone
    assert data_items(ddb) == []
    assert receipts(ddb) == [{"session_id": "g1", "reason": "user_delete"}]


def test_a_replayed_user_tombstone_spares_the_user_created_again(api: Invoke, ddb: Any) -> None:
    from tests.integration.conftest import tombstone_event

    _user(api, "hal")
    assert api("POST", "/api/v2/sessions", {"session_id": "h1", "user_id": "hal"}).status == 201
    assert api("DELETE", "/api/v2/users/hal").status == 200
    old_records = tombstone_event(ddb)
    assert len(old_records["Records"]) == 2, "the user's tombstone and their session's"
    assert run_purger(ddb) == {"batchItemFailures": []}
    assert data_items(ddb) == []
    assert receipts(ddb) == [{"session_id": "h1", "reason": "user_delete"}]
    _user(api, "hal")
    assert api("POST", "/api/v2/sessions", {"session_id": "h2", "user_id": "hal"}).status == 201
    _add(api, "h2", 3)

    from chat_memory.handlers import purger
    from tests.http_events import FakeContext

    assert purger.lambda_handler(old_records, FakeContext()) == {"batchItemFailures": []}  # the stream replays
    assert [s["session_id"] for s in api("GET", "/api/v2/users/hal/sessions").body] == ["h2"]
    assert len(_page(api, "h2", 10, 1)["messages"]) == 3


@pytest.mark.parametrize("how", ["create", "update"])
def test_a_session_given_to_a_user_being_deleted_never_outlives_the_delete(api: Invoke, how: str) -> None:
    """The race: the write read the user, then the user's DELETE committed, then the session write came. The session
    write checks that incarnation of the user in its own transaction, so it fails and nothing of it is stored."""
    from chat_memory import wiring
    from chat_memory.domain.errors import InvalidInputError

    assert api("POST", "/api/v2/users", {"user_id": "leaving"}).status == 201
    if how == "update":
        assert api("POST", "/api/v2/sessions", {"session_id": "late"}).status == 201
    store = wiring.dynamo_store()
    stale = store.get_user("default", "leaving")
    assert stale is not None
    assert api("DELETE", "/api/v2/users/leaving").status == 200
    write = store.create_session if how == "create" else store.update_session
    with pytest.raises(InvalidInputError, match="deleted"):
        write("default", "late", stale, {})
    session = api("GET", "/api/v2/sessions/late")
    assert session.status == 404 if how == "create" else not session.body.get("user_id")
