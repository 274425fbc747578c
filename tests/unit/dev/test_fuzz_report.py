"""When the fuzz run fails, what serve said besides its access lines is printed: the cause of a 5xx."""

from pathlib import Path

import pytest

from chat_memory_dev.qa.fuzz import print_server_side


def test_a_failed_fuzz_run_prints_serves_5xx_and_failures_not_its_other_access_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "serve.log"
    log.write_text(
        "chat-memory serving http://127.0.0.1:1234 (DynamoDB: embedded)\n"
        "GET /healthz 200 26.2ms\n"
        "POST /api/v2/sessions/x/search 500 10012.9ms\n"
        "chat-memory: POST /api/v2/sessions/{session_id}/search (chat_memory.handlers.reads) timed out\n"
    )

    print_server_side(log)

    err = capsys.readouterr().err
    assert "timed out" in err and "serving http://127.0.0.1:1234" in err and "search 500 10012.9ms" in err
    assert "GET /healthz" not in err
