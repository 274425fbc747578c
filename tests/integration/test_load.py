"""`chat-memory load --quick` end to end: a short load against its own `chat-memory serve` subprocess loses nothing.

The one run of `load --quick` in CI (`make test`; .ci/run does not run it again). Asserts counts only (requests
made, errors, lost messages), never speed: throughput belongs to `make load`.
"""

import json
from pathlib import Path

from chat_memory_dev import cli


def test_a_quick_load_acknowledges_and_stores_every_message(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    status = cli.main(["load", "--quick", "--read-ratio", "0.4", "--out", str(out)])

    results = json.loads(out.read_text(encoding="utf-8"))
    assert status == 0, json.dumps(results, indent=2)
    assert results["ok"] is True
    requests = results["requests"]
    assert requests["total"] > 0
    assert requests["add"] > 0, "the load wrote"
    assert requests["get_memory"] + requests["list_messages"] > 0, "and read"
    assert results["errors"]["total"] == 0
    check = results["verification"]
    assert check["acknowledged"] == results["messages_sent"] > 0
    assert check["stored"] == check["acknowledged"], "every acknowledged message is stored, and nothing else"
    for failure in ("lost", "duplicated", "out_of_order", "altered", "unexpected", "sessions_unlisted"):
        assert check[failure] == 0, failure
    assert check["sessions_listed"] == results["sessions_touched"] > 0
