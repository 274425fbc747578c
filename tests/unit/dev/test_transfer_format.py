"""The export format (chat_memory_dev.transfer.format): every line round-trips to the same bytes, timestamps are
exact to the microsecond, and a bad line is a FormatError that names the line and the field, never the content."""

import json

import pytest

from chat_memory.domain.models import RoleType, rfc3339_from_micros
from chat_memory_dev.transfer.format import (
    EndLine,
    FormatError,
    FormatLine,
    Line,
    MessageLine,
    SessionEndLine,
    SessionLine,
    SummaryLine,
    UserLine,
    dump_line,
    micros,
    parse_line,
)

U1 = "0b0e3a52-6a43-4c1e-9a57-2f0c1b7e5d10"
U2 = "1c1e3a52-6a43-4c1e-9a57-2f0c1b7e5d10"
AT = "2026-12-04T18:05:00.123456Z"
MESSAGE = {
    "type": "message",
    "uuid": U1,
    "created_at": AT,
    "role": "Ann",
    "role_type": "user",
    "content": "secret words",
    "metadata": {"n": 2**80, "f": 0.1, "é": ["ü", None, True]},
    "token_count": 3,
}

LINES: list[Line] = [
    FormatLine(tenant="acme"),
    FormatLine(tenant="acme", session_id="s"),
    UserLine(user_id="ann", uuid=U1, created_at=AT, updated_at=AT, email="a@x.io", metadata={"k": 1}),
    SessionLine(session_id="s", uuid=U2, created_at=AT, updated_at=AT, user_id="ann", summary_instruction="brief"),
    MessageLine.model_validate(MESSAGE),
    SummaryLine(
        current=True,
        uuid=U1,
        created_at=AT,
        content="so far",
        recent_message_uuid=U2,
        recent_message_created_at=AT,
        token_count=2,
    ),
    SessionEndLine(session_id="s", messages=1, summaries=1),
    EndLine(users=1, sessions=1, messages=1),
]


@pytest.mark.parametrize("line", LINES, ids=lambda line: line.type)
def test_every_line_round_trips_to_the_same_bytes(line: Line) -> None:
    text = dump_line(line)
    assert "\n" not in text and text.startswith(f'{{"type":"{line.type}"')
    parsed = parse_line(text, "line 1")
    assert parsed == line
    assert dump_line(parsed) == text


def test_numbers_and_text_of_metadata_are_kept_exactly() -> None:
    line = parse_line(json.dumps(MESSAGE, ensure_ascii=True), "line 1")
    assert isinstance(line, MessageLine)
    assert line.metadata == MESSAGE["metadata"]
    assert '"n":1208925819614629174706176' in dump_line(line) and '"é":["ü"' in dump_line(line)  # UTF-8 as is


@pytest.mark.parametrize("us", [0, 1, 999_999, 1_000_000, 1_796_407_500_123_456, 253_402_300_799_999_999])
def test_timestamps_are_exact_to_the_microsecond(us: int) -> None:
    assert micros(rfc3339_from_micros(us)) == us


def test_a_message_line_gives_the_stored_message() -> None:
    message = MessageLine.model_validate(MESSAGE).to_domain()
    assert (message.uuid, message.ts, message.role_type, message.token_count) == (U1, micros(AT), RoleType.USER, 3)
    assert message.created_at == AT


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"uuid": "not-a-uuid"}, "uuid: String should match pattern"),
        ({"created_at": "2026-12-04T18:05:00Z"}, "created_at: Value error, expected an RFC 3339 UTC time"),
        ({"created_at": "2026-12-04T18:05:00.123+00:00"}, "created_at: Value error"),
        ({"created_at": "2026-13-04T18:05:00.123456Z"}, "created_at: Value error, not a valid time"),
        ({"token_count": -1}, "token_count: Input should be greater than or equal to 0"),
        ({"role_type": "robot"}, "role_type: Input should be"),
        ({"role": "r" * 257}, "role: String should have at most 256 characters"),
        ({"content": "a\x00b"}, "content: Value error, content must not contain NUL"),
        ({"content": "x" * 100_001}, "content: Value error, content is 100001 bytes"),
        ({"metadata": {"a": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}, "metadata: Value error, metadata is nested deeper"),
        ({"surprise": 1}, "surprise: Extra inputs are not permitted"),
        ({"content": None}, "content: Input should be a valid string"),
    ],
)
def test_a_bad_field_names_the_line_and_the_field_but_not_the_content(change: dict[str, object], says: str) -> None:
    with pytest.raises(FormatError) as error:
        parse_line(json.dumps({**MESSAGE, **change}), "line 7")
    message = str(error.value)
    assert message.startswith("line 7: ") and says in message
    assert "secret" not in message and "xxxx" not in message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{not json", "line 3: not JSON"),
        ('{"type": "end", "users": NaN, "sessions": 0, "messages": 0}', "line 3: not JSON (NaN is not JSON)"),
        ("[1, 2]", "line 3: expected a JSON object with a `type`"),
        ('{"users": 1}', "line 3: expected a JSON object with a `type`"),
        ('{"type": "chapter"}', "line 3: Input tag 'chapter' found using 'type' does not match"),
        ('{"type": "format", "version": 2, "tenant": "t"}', "line 3: version: Input should be 1"),
        ('{"type": "session_end", "session_id": "s", "messages": 1}', "line 3: summaries: Field required"),
        (
            json.dumps({"type": "session", "session_id": "a/b", "uuid": U1, "created_at": AT, "updated_at": AT}),
            "line 3: session_id: Value error, must not contain '/'",
        ),
    ],
)
def test_a_line_that_is_not_of_the_format_is_named(text: str, says: str) -> None:
    with pytest.raises(FormatError) as error:
        parse_line(text, "line 3")
    assert str(error.value).startswith(says)
