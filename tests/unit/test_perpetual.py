"""Perpetual memory rules that need no AWS: what each memory type returns, and the summary models' prompts."""

from collections.abc import Sequence
from dataclasses import replace

from chat_memory.adapters.summarisers import ExtractiveSummaryModel, summary_prompt
from chat_memory.domain.models import MemoryType, RoleType, Session, StoredMessage, Summary, Window
from chat_memory.service.memory import GetMemory


def _message(ts: int) -> StoredMessage:
    return StoredMessage(uuid=f"m{ts}", ts=ts, role="r", role_type=RoleType.USER, content=f"c{ts}", token_count=1)


def _summary(point: int) -> Summary:
    return Summary(
        uuid=f"s{point}", ts=1000 + point, content=f"up to {point}", recent_message_uuid=f"m{point}",
        recent_message_ts=point, token_count=3,
    )  # fmt: skip


class Store:
    def __init__(self, messages: Sequence[int], current: int | None, history: Sequence[int]) -> None:
        self.window = Window(
            session=Session(session_id="s", uuid="u", created_ts=0, updated_ts=0),
            messages=[_message(t) for t in messages],
            summary=_summary(current) if current is not None else None,
            first_ts=1,
        )
        self.history = list(history)
        self.asked: list[tuple[int, int]] = []
        self.summaries: dict[int, str] = {}  # point -> content, where a test gives one

    def read_window(self, tenant: str, session_id: str, limit: int, token_budget: int | None = None) -> Window:
        return self.window

    def summary_history(self, tenant: str, session_id: str) -> list[Summary]:
        return [replace(_summary(p), content=self.summaries.get(p, f"up to {p}")) for p in self.history]

    def summary_before(self, tenant: str, session_id: str, before_ts: int, not_before_ts: int) -> Summary | None:
        self.asked.append((before_ts, not_before_ts))
        older = [p for p in self.history if not_before_ts <= p < before_ts]
        return _summary(max(older)) if older else None


def _get(store: Store, memory_type: MemoryType) -> tuple[list[int], int | None]:
    memory = GetMemory(store, default_window=12)("t", "s", memory_type, None)  # type: ignore[arg-type]
    return [m.ts for m in memory.messages], memory.summary.recent_message_ts if memory.summary else None


def test_perpetual_is_the_summary_plus_only_the_messages_after_it() -> None:
    store = Store(messages=range(10, 22), current=17, history=[5, 17])
    assert _get(store, MemoryType.PERPETUAL) == ([18, 19, 20, 21], 17)
    assert store.asked == []


def test_summary_retriever_is_the_window_with_the_summary_most_relevant_to_its_newest_messages() -> None:
    store = Store(messages=range(10, 22), current=17, history=[5, 8, 17])
    store.window = replace(
        store.window, messages=[*store.window.messages[:-1], replace(_message(21), content="we booked the Lisbon trip")]
    )
    store.summaries = {5: "Jane planned a trip to Lisbon", 8: "Jane talked about her garden", 17: "the weather"}
    assert _get(store, MemoryType.SUMMARY_RETRIEVER) == (list(range(10, 22)), 5), "no overlap trimming"


def test_summary_retriever_without_a_relevant_summary_answers_as_message_window() -> None:
    store = Store(messages=range(10, 22), current=17, history=[4, 8, 17])
    assert _get(store, MemoryType.SUMMARY_RETRIEVER) == _get(store, MemoryType.MESSAGE_WINDOW)


def test_perpetual_without_a_summary_is_the_window() -> None:
    assert _get(Store(messages=range(10, 22), current=None, history=[]), MemoryType.PERPETUAL) == (
        list(range(10, 22)),
        None,
    )


def test_message_window_keeps_the_current_summary_when_it_ends_before_the_messages() -> None:
    store = Store(messages=range(10, 22), current=9, history=[4, 9])
    assert _get(store, MemoryType.MESSAGE_WINDOW) == (list(range(10, 22)), 9)
    assert store.asked == []


def test_message_window_falls_back_to_the_newest_summary_ending_before_its_oldest_message() -> None:
    store = Store(messages=range(10, 22), current=17, history=[4, 8, 17])
    assert _get(store, MemoryType.MESSAGE_WINDOW) == (list(range(10, 22)), 8)
    assert store.asked == [(10, 1)]


def test_message_window_has_no_summary_when_none_ends_before_its_messages() -> None:
    store = Store(messages=range(10, 22), current=17, history=[17])
    assert _get(store, MemoryType.MESSAGE_WINDOW) == (list(range(10, 22)), None)


class Length:
    def count(self, text: str) -> int:
        return len(text.split())


def test_extractive_summary_is_deterministic_keeps_first_sentences_and_the_newest_lines() -> None:
    model = ExtractiveSummaryModel(Length(), max_tokens=12)
    lines = ["Jane: Who was Octavia Butler? I read Kindred.", "Bot: An American author.   She wrote Kindred."]
    first = model.summarise(None, lines, None)
    assert first == model.summarise(None, lines, None)
    assert first.text == "Jane: Who was Octavia Butler?\nBot: An American author."
    second = model.summarise(first.text, ["Jane: Which books became films? Any series?"], None)
    assert second.text.splitlines()[-1] == "Jane: Which books became films?"
    assert sum(len(line.split()) + 1 for line in second.text.splitlines()) <= 12, "within the token budget"
    assert "Who was Octavia Butler?" not in second.text, "the oldest lines give way first"


def test_the_prompt_carries_the_previous_summary_the_lines_and_the_instruction() -> None:
    prompt = summary_prompt("Jane likes sci-fi.", ["Jane: hi", "Bot: hello"], "Use bullet points.")
    assert "<current_summary>\nJane likes sci-fi.\n</current_summary>" in prompt
    assert "<new_lines>\nJane: hi\nBot: hello\n</new_lines>" in prompt
    assert "<instruction>\nUse bullet points.\n</instruction>" in prompt
    assert "<instruction>" not in summary_prompt(None, ["x: y"], None)


def test_v1s_lastn_is_the_newest_messages_with_the_latest_summary_even_overlapping() -> None:
    """API v1 (Zep 0.27's GetLastN): with `lastn`, the window's messages as they are and the current summary."""
    store = Store(messages=range(10, 22), current=17, history=[5, 17])
    memory = GetMemory(store, default_window=12).latest("t", "s", 12)  # type: ignore[arg-type]
    assert [m.ts for m in memory.messages] == list(range(10, 22))
    assert memory.summary is not None and memory.summary.recent_message_ts == 17
    assert store.asked == []


# -- a token budget (max_tokens): summary first when it fits, then the newest messages that fit -----------------


def _budgeted(store: Store, memory_type: MemoryType, budget: int) -> tuple[list[int], int | None, int, bool]:
    memory = GetMemory(store, default_window=12)("t", "s", memory_type, None, budget)  # type: ignore[arg-type]
    point = memory.summary.recent_message_ts if memory.summary else None
    assert memory.tokens is not None
    return [m.ts for m in memory.messages], point, memory.tokens, memory.truncated


def test_a_budget_holds_the_summary_then_the_newest_messages_after_it() -> None:
    store = Store(messages=range(10, 22), current=17, history=[5, 17])  # summary 3 tokens, messages 1 each
    assert _budgeted(store, MemoryType.PERPETUAL, 5) == ([20, 21], 17, 5, True)
    assert _budgeted(store, MemoryType.PERPETUAL, 100) == ([18, 19, 20, 21], 17, 7, False)


def test_a_summary_over_the_budget_is_left_out_and_the_messages_fill_it() -> None:
    store = Store(messages=range(10, 22), current=9, history=[9])
    assert _budgeted(store, MemoryType.MESSAGE_WINDOW, 2) == ([20, 21], None, 2, True)


def test_a_read_cut_by_the_budget_says_it_is_truncated() -> None:
    store = Store(messages=range(10, 14), current=None, history=[])
    store.window = replace(store.window, cut_by_budget=True)
    assert _budgeted(store, MemoryType.PERPETUAL, 100) == ([10, 11, 12, 13], None, 4, True)
