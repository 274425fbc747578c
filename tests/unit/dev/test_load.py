"""`chat-memory load`'s verifier and statistics on fabricated data: each kind of loss is caught, a clean run passes."""

import argparse

import pytest

from chat_memory_dev.qa.load import (
    LoadPlan,
    SentMessage,
    StoredMessage,
    add_arguments,
    latency_summary,
    plan_from_args,
    verify,
)

S1, S2 = "load-x-0000", "load-x-0001"


def _sent(uuid: str, session: str = S1, *, acknowledged: bool = True) -> SentMessage:
    return SentMessage(uuid=uuid, session_id=session, content=f"content of {uuid}", acknowledged=acknowledged)


def _stored(*uuids: str) -> list[StoredMessage]:
    return [StoredMessage(uuid=u, content=f"content of {u}") for u in uuids]


def _by_uuid(*messages: SentMessage) -> dict[str, SentMessage]:
    return {m.uuid: m for m in messages}


# Two users writing one session, interleaved: user 0 sent a, b, c; user 1 sent x, y (acknowledgement order).
SENT = _by_uuid(_sent("a"), _sent("b"), _sent("c"), _sent("x"), _sent("y"))
ORDER = {(0, S1): ["a", "b", "c"], (1, S1): ["x", "y"]}


def test_a_clean_interleaving_passes() -> None:
    verdict = verify(SENT, ORDER, {S1: _stored("x", "a", "b", "y", "c")})
    assert verdict.failures == 0, verdict.examples
    assert (verdict.acknowledged, verdict.stored) == (5, 5)


def test_a_lost_message_is_caught() -> None:
    verdict = verify(SENT, ORDER, {S1: _stored("x", "a", "y", "c")})
    assert verdict.lost == 1
    assert (verdict.duplicated, verdict.out_of_order) == (0, 0), "the rest of user 0's order still holds"
    assert verdict.failures == 1
    assert any("lost: b" in e for e in verdict.examples)


def test_a_session_that_is_gone_loses_all_its_messages() -> None:
    assert verify(SENT, ORDER, {}).lost == 5


def test_a_duplicate_is_caught_by_uuid_and_by_content() -> None:
    assert verify(SENT, ORDER, {S1: _stored("x", "a", "b", "b", "y", "c")}).duplicated == 1
    # Stored again under a uuid the server made up: the content gives it away (and the uuid was not kept).
    copy = StoredMessage(uuid="server-made", content="content of a")
    verdict = verify(SENT, ORDER, {S1: [*_stored("x", "a", "b", "y", "c"), copy]})
    assert (verdict.duplicated, verdict.altered) == (1, 1)


def test_an_out_of_order_pair_is_caught() -> None:
    verdict = verify(SENT, ORDER, {S1: _stored("x", "b", "a", "y", "c")})
    assert verdict.out_of_order == 1
    assert (verdict.lost, verdict.duplicated) == (0, 0)
    assert any("out of order: user 0's b stored before a" in e for e in verdict.examples)


def test_other_users_messages_in_between_are_not_disorder() -> None:
    # Only each user's own order is promised: user 1's y landing first is fine.
    assert verify(SENT, ORDER, {S1: _stored("y", "a", "x", "b", "c")}).out_of_order == 1  # x, y swapped
    assert verify(SENT, ORDER, {S1: _stored("x", "y", "a", "b", "c")}).failures == 0


def test_a_message_in_the_wrong_session_or_with_other_content_is_altered() -> None:
    verdict = verify(SENT, ORDER, {S1: _stored("x", "a", "b", "y"), S2: _stored("c")})
    assert verdict.altered == 1
    changed = [*_stored("x", "a", "b", "y"), StoredMessage(uuid="c", content="something else")]
    assert verify(SENT, ORDER, {S1: changed}).altered == 1


def test_a_message_never_sent_is_unexpected() -> None:
    verdict = verify(SENT, ORDER, {S1: [*_stored("x", "a", "b", "y", "c"), StoredMessage("zzz", "never sent")]})
    assert verdict.unexpected == 1
    assert verdict.failures == 1


def test_unacknowledged_messages_are_reported_either_way_but_do_not_fail() -> None:
    sent = {**SENT, "e1": _sent("e1", acknowledged=False), "e2": _sent("e2", acknowledged=False)}
    verdict = verify(sent, ORDER, {S1: _stored("x", "a", "b", "e1", "y", "c")})
    assert (verdict.unacknowledged_stored, verdict.unacknowledged_missing) == (1, 1)
    assert verdict.acknowledged == 5
    assert verdict.failures == 0


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary([0.001 * n for n in range(1, 101)])
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p99"] == pytest.approx(99.01)
    assert summary["max"] == pytest.approx(100.0)
    assert latency_summary([])["p95"] is None


def _plan(*argv: str) -> LoadPlan:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return plan_from_args(parser.parse_args(argv))


def test_plans_are_bounded() -> None:
    assert _plan().duration_s == 60
    assert (_plan("--requests", "50").duration_s, _plan("--requests", "50").max_requests) == (None, 50)
    quick = _plan("--quick")
    assert (quick.users, quick.sessions) == (4, 40)
    assert quick.duration_s is not None and quick.duration_s < 60
    assert _plan("--quick", "--users", "2").users == 2, "explicit values win over --quick's"
    with pytest.raises(ValueError, match="read-ratio"):
        _plan("--read-ratio", "1.5")
    with pytest.raises(ValueError, match="users"):
        _plan("--users", "0")
