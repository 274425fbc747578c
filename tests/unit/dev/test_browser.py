"""The browser helpers refuse to run without Chromium or its driver, saying how to get them: tests/browser then
fails (an error in its fixture), it is never skipped."""

from pathlib import Path

import pytest

from chat_memory_dev.browser import chrome


@pytest.mark.parametrize("absent", ["CHROMIUM", "CHROMEDRIVER"])
def test_without_chromium_or_its_driver_nothing_starts(
    absent: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chrome, absent, tmp_path / "not-installed")
    assert chrome.missing() == [str(tmp_path / "not-installed")]
    refused = pytest.raises(chrome.BrowserMissingError, match=r"not installed: .*not-installed \(`make browser`")
    with refused, chrome.chromium():
        pytest.fail("started without a browser")


def test_chromium_runs_headless_with_a_fresh_profile_and_no_network_of_its_own() -> None:
    assert {"--headless", "--no-sandbox", "--disable-background-networking", "--no-proxy-server"} <= set(chrome.FLAGS)
    assert not any(flag.startswith("--user-data-dir") for flag in chrome.FLAGS)  # a new temporary one each time
