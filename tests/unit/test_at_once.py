"""Calls made at once (adapters/dynamodb/parallel.py): each sees the caller's context (its deadline, the capacity
tally), they really overlap, leaving the block waits for all of them, and a call's error reaches its caller."""

import threading
from functools import partial

import pytest

from chat_memory import deadline
from chat_memory.adapters.dynamodb import consumed
from chat_memory.adapters.dynamodb.parallel import MAX_CALLS, AtOnce

WAIT = 60  # seconds; only a failing test waits this long


def test_the_calls_overlap_and_see_the_callers_deadline() -> None:
    together = threading.Barrier(MAX_CALLS, timeout=WAIT)  # passes only if every call is running at the same time

    def call(n: int) -> tuple[int, float]:
        together.wait()
        return n, deadline.remaining()

    with deadline.within(30), AtOnce() as calls:
        started = [calls.start(partial(call, n)) for n in range(MAX_CALLS)]
    answers = [f.result() for f in started]
    assert [n for n, _ in answers] == list(range(MAX_CALLS))
    assert all(0 < left <= 30 for _, left in answers), "each call has the request's deadline"
    assert deadline.remaining() == float("inf"), "and the caller's context is left as it was"


def test_leaving_waits_for_every_call_and_errors_reach_the_caller() -> None:
    release, done = threading.Event(), threading.Event()

    def slow() -> str:
        assert release.wait(WAIT)
        done.set()
        return "slow"

    def failing() -> str:
        release.set()
        raise ValueError("no")

    with AtOnce() as calls:
        slow_call = calls.start(slow)
        failing_call = calls.start(failing)
    assert done.is_set(), "the block ended only once the slow call had"
    assert slow_call.result() == "slow"
    with pytest.raises(ValueError, match="no"):
        failing_call.result()


def test_calls_at_once_add_their_capacity_to_the_tally_of_the_request_that_made_them() -> None:
    class Model:
        name = "Query"

    def record() -> None:
        for _ in range(1_000):
            consumed.record_capacity(None, {"ConsumedCapacity": {"CapacityUnits": 0.5}}, Model())

    with consumed.measure() as consumption, AtOnce() as calls:
        for _ in range(4):
            calls.start(record)
    assert consumption.read_units == 4 * 1_000 * 0.5
