"""`python -m chat_memory_dev.bench.big_delete` runs end to end on a small session and prints its three lines.

A subprocess: the tool sets its own dummy AWS environment. Only the lines' shape is asserted (times and call
counts are moto's), not the DELETE's status.
"""

import re
import subprocess
import sys


def test_big_delete_fills_deletes_and_purges_a_small_session() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "chat_memory_dev.bench.big_delete", "--messages", "60"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3, run.stdout
    assert re.fullmatch(r"filled 60 messages in \d+ s", lines[0])
    assert re.fullmatch(r"DELETE answered \d{3} in \d+ ms with \{.*\} \(moto\)", lines[1])
    assert re.fullmatch(r"purge: \{'batchItemFailures': \[\]\} in \d+ s with \{.*\}; items left: \d+", lines[2])
