"""Settings from the environment: WRITE_RETRY_BUDGET_SECONDS, a local server's longer patience for lost races."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from chat_memory import wiring
from chat_memory.adapters.dynamodb.repository import DynamoMemoryStore
from chat_memory.settings import SettingsError, get_settings

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    wiring.reset()
    yield
    wiring.reset()


def test_without_the_variable_the_store_keeps_its_own_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WRITE_RETRY_BUDGET_SECONDS", raising=False)
    assert get_settings().write_retry_budget_seconds is None
    assert wiring.dynamo_store()._table.retry_budget == DynamoMemoryStore("t-default")._table.retry_budget
    assert "WRITE_RETRY_BUDGET_SECONDS" not in TEMPLATE.read_text()  # on AWS: always the store's own


def test_the_variable_sets_the_stores_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRITE_RETRY_BUDGET_SECONDS", "25")
    assert wiring.dynamo_store()._table.retry_budget == 25.0


@pytest.mark.parametrize("value", ["0", "-1", "many", "901"])
def test_a_bad_budget_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("WRITE_RETRY_BUDGET_SECONDS", value)
    with pytest.raises(SettingsError, match="write_retry_budget_seconds"):
        get_settings()


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("SESSION_WINDOW", "1", "session_window"),
        ("SESSION_WINDOW", "501", "session_window"),
        ("SESSION_WINDOW", "12.5", "session_window"),
        ("RETENTION_DAYS", "-1", "retention_days"),
        ("IDEMPOTENCY_EXPIRY_SECONDS", "59", "idempotency_expiry_seconds"),
        ("WRITE_RETRY_BUDGET_SECONDS", "nan", "write_retry_budget_seconds"),
        ("TABLE_NAME", "ab", "table_name"),
    ],
)
def test_each_setting_out_of_its_range_is_a_configuration_error_that_names_it(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv("TABLE_NAME", "chat-memory")
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=field):
        get_settings()


def test_settings_within_range_are_read_and_the_rest_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TABLE_NAME", "chat-memory")
    monkeypatch.setenv("SESSION_WINDOW", "30")
    monkeypatch.setenv("RETENTION_DAYS", "7")
    monkeypatch.delenv("IDEMPOTENCY_EXPIRY_SECONDS", raising=False)
    settings = get_settings()
    assert (settings.table_name, settings.session_window, settings.retention_days) == ("chat-memory", 30, 7)
    assert settings.idempotency_expiry_seconds == 86_400
