"""The authorizer reads the key from the event as API Gateway sends it (payload 2.0), without AWS."""

from typing import Any

import pytest

from chat_memory.handlers.authorizer import authorization_header, key_from_header


@pytest.mark.parametrize(
    ("event", "header"),
    [
        ({"identitySource": ["Bearer k1"], "headers": {"authorization": "Bearer other"}}, "Bearer k1"),
        ({"headers": {"Authorization": "Api-Key z_k2"}}, "Api-Key z_k2"),
        ({"headers": {"AUTHORIZATION": "Bearer k3"}}, "Bearer k3"),
        ({"identitySource": None, "headers": {"authorization": "Bearer k4"}}, "Bearer k4"),
        ({"headers": {"x-api-key": "k5"}}, None),
        ({}, None),
    ],
)
def test_the_header_comes_from_the_identity_source_or_the_headers_in_any_case(
    event: dict[str, Any], header: str | None
) -> None:
    assert authorization_header(event) == header


@pytest.mark.parametrize(
    ("header", "key"),
    [("Bearer abc", "abc"), ("api-key z_abc", "z_abc"), ("Basic abc", None), ("Bearer a b", None), (None, None)],
)
def test_only_the_two_schemes_zep_python_sends_give_a_key(header: str | None, key: str | None) -> None:
    assert key_from_header(header) == key
