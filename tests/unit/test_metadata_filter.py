"""Zep's JSONPath filter on message metadata (search): what it matches, and what it refuses with a 400."""

from typing import Any

import pytest

from chat_memory.domain.errors import InvalidInputError
from chat_memory.service.metadata_filter import metadata_filter

METADATA: dict[str, Any] = {
    "foo": "bar",
    "n": 3,
    "ok": True,
    "none": None,
    "nested": {"level": {"deep": "yes"}, "count": 2.5},
    "a key": "spaced",
    "tags": ["x"],
}


@pytest.mark.parametrize(
    ("jsonpath", "expected"),
    [
        ('$[*] ? (@.foo == "bar")', True),
        ("$[*] ? (@.foo == 'bar')", True),
        ('$ ? (@.foo == "baz")', False),
        ('$[*] ? (@.foo != "baz")', True),
        ("$[*] ? (@.n == 3)", True),
        ("$[*] ? (@.n == 3.0)", True),
        ("$[*] ? (@.n > 2 && @.n <= 3)", True),
        ("$[*] ? (@.n < 3 || @.ok == true)", True),
        ("$[*] ? (@.n < 3 || @.ok == false)", False),
        ('$[*] ? (!(@.foo == "bar"))', False),
        ('$[*] ? ((@.n == 1 || @.n == 3) && @.foo == "bar")', True),
        ('$[*] ? (@.nested.level.deep == "yes")', True),
        ("$[*] ? (@.nested.count >= 2.5)", True),
        ('$[*] ? (@."a key" == "spaced")', True),
        ("$[*] ? (@.none == null)", True),
        ("$[*] ? (@.ok == 1)", False),  # true is not 1
        ('$[*] ? (@.n < "4")', False),  # no order across types
        ('$[*] ? (@.missing == "x")', False),
        ('$[*] ? (@.missing != "x")', False),  # a missing key is never true
        ('$[*] ? (@.tags == "x")', False),
        ("$[*] ? (@.n == -1e3)", False),
    ],
)
def test_a_filter_holds_as_sql_json_reads_it(jsonpath: str, expected: bool) -> None:
    assert metadata_filter(jsonpath)(METADATA) is expected


@pytest.mark.parametrize(
    "jsonpath",
    [
        "",
        "   ",
        "foo",
        "$",
        "$[*] ? @.foo",
        '$[*] ? (@.foo = "bar")',
        "$[*] ? (@.foo == )",
        '$[*] ? (@ == "x")',
        '$[*] ? (@.foo == "bar") extra',
        '$[*] ? (@.foo like_regex "b")',
        '$[*] ? (@.foo == "bar"',
        "$[*] ? (@.foo == bar)",
        '$[*] ? (@.foo == "\\q")',
        "$.foo",
        "$[*] ? (" + "(" * 2_000 + '@.a == "b"' + ")" * 2_001,
        "$[*] ? (" + "!" * 3_000 + '@.a == "b")',
    ],
)
def test_what_it_cannot_read_is_a_400_that_says_where(jsonpath: str) -> None:
    with pytest.raises(InvalidInputError, match="jsonpath"):
        metadata_filter(jsonpath)
