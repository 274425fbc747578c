"""Zep's filter on message metadata: `{"where": {"jsonpath": "$[*] ? (@.key == value)"}}` (a SQL/JSON path, as
Postgres' jsonb_path_exists reads it in lax mode), for search.

Supported: one filter `$ ? (...)` or `$[*] ? (...)` over a message's metadata object; inside it `@.key`, nested
`@.a.b` and quoted `@."a key"` accessors compared with `==`, `!=`, `<`, `<=`, `>`, `>=` to a string, number,
`true`, `false` or `null`; `&&`, `||`, `!` and parentheses. As in SQL/JSON, a comparison with a missing key or
with a value of another type is not true. Anything else is refused with a message that says where.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from chat_memory.domain.errors import InvalidInputError

Predicate = Callable[[dict[str, Any]], bool]

_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<op>==|!=|<=|>=|<|>|&&|\|\||!|\(|\)|\?|\$|@|\.|\[\*\])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_COMPARE: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_MISSING: Final = object()


class _RefusedError(InvalidInputError):
    def __init__(self, reason: str, at: int) -> None:
        super().__init__(f"metadata.where.jsonpath: {reason} (at character {at + 1}); supported: "
                         '$[*] ? (@.key == "value"), with &&, ||, !, ==, !=, <, <=, >, >= and nested keys')  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    found, at = [], 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            if text[at:].strip() == "":
                break
            raise _RefusedError(f"unexpected {text[at:].strip()[:10]!r}", at)
        kind = match.lastgroup or ""
        found.append(_Token(kind, match.group(kind), match.start(kind)))
        at = match.end()
    return found


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.index = 0
        self.length = len(text)

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> _Token:
        token = self._peek()
        if token is None:
            raise _RefusedError(f"the filter ends early{f', {expected!r} expected' if expected else ''}", self.length)
        if expected is not None and token.text != expected:
            raise _RefusedError(f"{expected!r} expected, not {token.text!r}", token.at)
        self.index += 1
        return token

    def filter(self) -> Predicate:
        self._take("$")
        if (token := self._peek()) is not None and token.text == "[*]":
            self._take()
        self._take("?")
        self._take("(")
        predicate = self._or()
        self._take(")")
        if (extra := self._peek()) is not None:
            raise _RefusedError(f"unexpected {extra.text!r} after the filter", extra.at)
        return predicate

    def _or(self) -> Predicate:
        parts = [self._and()]
        while (token := self._peek()) is not None and token.text == "||":
            self._take()
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda m: any(p(m) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._unary()]
        while (token := self._peek()) is not None and token.text == "&&":
            self._take()
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else lambda m: all(p(m) for p in parts)

    def _unary(self) -> Predicate:
        token = self._peek()
        if token is not None and token.text == "!":
            self._take()
            inner = self._unary()
            return lambda m: not inner(m)
        if token is not None and token.text == "(":
            self._take()
            inner = self._or()
            self._take(")")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        path = self._accessor()
        token = self._take()
        if token.text not in _COMPARE:
            raise _RefusedError(f"a comparison (==, !=, <, <=, >, >=) expected, not {token.text!r}", token.at)
        compare, value = _COMPARE[token.text], self._literal()
        return lambda m: _holds(compare, _lookup(m, path), value)

    def _accessor(self) -> list[str]:
        self._take("@")
        path: list[str] = []
        while (token := self._peek()) is not None and token.text == ".":
            self._take()
            key = self._take()
            if key.kind not in ("word", "string"):
                raise _RefusedError(f"a key expected after '.', not {key.text!r}", key.at)
            path.append(key.text if key.kind == "word" else _unquoted(key))
        if not path:
            raise _RefusedError("a key expected: @.key", self.tokens[self.index - 1].at)
        return path

    def _literal(self) -> Any:
        token = self._take()
        if token.kind == "string":
            return _unquoted(token)
        if token.kind == "number":
            return float(token.text) if any(c in token.text for c in ".eE") else int(token.text)
        if token.kind == "word" and token.text in ("true", "false", "null"):
            return json.loads(token.text)
        raise _RefusedError(f"a value (a string, a number, true, false or null) expected, not {token.text!r}", token.at)


def _unquoted(token: _Token) -> str:
    body = token.text[1:-1]
    if token.text[0] == "'":
        body = body.replace('\\"', '"').replace('"', '\\"').replace("\\'", "'")
    try:
        return str(json.loads(f'"{body}"'))
    except ValueError:
        raise _RefusedError("a string with an invalid escape", token.at) from None


def _lookup(metadata: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(metadata, dict) or key not in metadata:
            return _MISSING
        metadata = metadata[key]
    return metadata


def _holds(compare: Callable[[Any, Any], bool], found: Any, value: Any) -> bool:
    """SQL/JSON compares scalars of one type only (true is not 1, a number is not less than a string); anything
    else, and a missing key, is not true."""
    if found is _MISSING or isinstance(found, dict | list):
        return False
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (found, value))
    if not numbers and type(found) is not type(value):
        return False
    try:
        return compare(found, value)
    except TypeError:  # null < null
        return False


def metadata_filter(jsonpath: str) -> Predicate:
    """The predicate a filter holds for a message's metadata; InvalidInputError (400) for any other text."""
    if not isinstance(jsonpath, str) or not jsonpath.strip():
        raise InvalidInputError("metadata.where.jsonpath must be a non-empty string")
    try:
        return _Parser(jsonpath).filter()
    except RecursionError:  # "((((...": nested past what the parser follows
        raise InvalidInputError("metadata.where.jsonpath is nested too deeply") from None
