"""rc6's own chat-history examples (examples/chat_history/memory.py and memory_async.py at tag v2.0.0-rc.6 of
getzep/zep-python), unmodified, run to the end against `chat-memory serve` as subprocesses with the real client.

They are checked in as text (tests/compat/rc6_examples, with their provenance) and written back as the package
layout they import from (`examples.chat_history.chat_history_shoe_purchase`); they read the URL and key from
ZEP_API_URL and ZEP_API_KEY, so not even those are substituted. The offline dialog model answers
synthesize_question and classify_session (no model configured), so their answers are known exactly.
"""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from zep_python import ZepClient

from tests.compat.conftest import API_KEY

pytestmark = pytest.mark.compat

EXAMPLES = Path(__file__).with_name("rc6_examples")
# git's blob hashes of the files at the tag (README.md there): a copy that was edited fails the test.
BLOBS = {
    "memory.py": "7a8fc03d3c750889ceb7938e5eb40e311d194c14",
    "memory_async.py": "2ae89bb9715463b2722fbfb614b30dbecc8b36d0",
    "chat_history_shoe_purchase.py": "f606aa06c09765eb16e1eb87a0208aaafe92e15e",
}
RUN_TIMEOUT_S = 180  # each polls get_memory every 5 s until the summariser has written a summary
# The offline answers for the last messages of the shoe purchase (see the README's Dialog tools).
QUESTION = (
    "What about this: They're nice looking. Yes, I think I'll go with those "
    "(context: Adidas Ultraboost 21, $129.99, Brooks, Nike)?"
)
CLASSIFICATION = "Classification: name='spender_category' class_='other'"
SHOE_OFFER = (  # the example conversation's message with {"bar": "foo"}
    "I've found a few great options for you. The first one is the Brooks Ghost 14, which is known for its"
    " cushioning and support, ideal for runners with pronation issues. It's available in your size, and it's"
    " within your budget."
)


def _blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@pytest.fixture(scope="module")
def examples_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zep-python-rc6")
    package = root / "examples" / "chat_history"
    package.mkdir(parents=True)
    for name, blob in BLOBS.items():
        data = (EXAMPLES / f"{name}.txt").read_bytes()
        assert _blob(data) == blob, f"{name} is not rc6's file"
        (package / name).write_bytes(data)
    return root


def _run(example: str, root: Path, base_url: str) -> str:
    env = dict(os.environ, ZEP_API_URL=base_url, ZEP_API_KEY=API_KEY, PYTHONUNBUFFERED="1")
    done = subprocess.run(
        [sys.executable, "-m", f"examples.chat_history.{example}"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, f"{example} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def _section(output: str, title: str) -> str:
    """The lines after a `---{title}` line, up to the next one."""
    after = output.split(f"\n---{title}", 1)[1]
    return after.split("\n---", 1)[0]


def _check(output: str, client: ZepClient) -> None:
    for failure in ("API error", "Failed to create user", "not found", "Nothing found"):
        assert failure not in output, output
    assert re.search(r"^Created user: [0-9a-f]{32}$", output, re.M), output
    session_id = re.search(r"^---Creating session: ([0-9a-f]{32})$", output, re.M)
    assert session_id, output
    assert "Session created: " in output and "Session updated: " in output and "Session details: " in output
    assert "Added 16 messages to memory" in output
    assert re.search(r"^Summary: \S", output, re.M), "the loop ends on the summariser's summary"
    assert f"\nQuestion: {QUESTION}\n" in output
    assert f"\n{CLASSIFICATION}\n" in output
    for search in ("Searching over summaries for", "Searching over summaries with MMR Reranking"):
        found = _section(output, search)
        assert re.search(r"^Result: \S", found, re.M) and re.search(r"^Score: [0-9.]+$", found, re.M), found
    # The filter keeps the one message with {"bar": "foo"}. It shares no word with the query ("What are Jane's
    # favorite shoe brands?"), but the message before it does ("the best running shoes ... your brand
    # preferences"): a filter chooses among the whole conversation's ranking, so it is found by that share.
    filtered = _section(output, "Searching over messages using a metadata filter")
    assert re.findall(r"^Result: (.*)$", filtered, re.M) == [SHOE_OFFER], filtered
    # classify_session persisted (rc6's default) where Zep Cloud keeps it.
    session = client.memory.get_session(session_id.group(1))
    assert session.metadata == {"foo": "bar", "bar": "foo", "system": {"classes": {"spender_category": "other"}}}


def test_rc6_memory_example_runs_to_the_end(examples_root: Path, base_url: str, client: ZepClient) -> None:
    output = _run("memory", examples_root, base_url)
    _check(output, client)
    assert "\n---Get Memory for Session: " in output


def test_rc6_async_memory_example_runs_to_the_end(examples_root: Path, base_url: str, client: ZepClient) -> None:
    output = _run("memory_async", examples_root, base_url)
    _check(output, client)
    assert "\n---Get Perpetual Memory for Session: " in output and "\n---End of Memory" in output
