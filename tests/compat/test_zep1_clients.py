"""zep-python 1.5.0 (Zep's v1 API) and LangChain's community Zep classes, unmodified, against `chat-memory serve`.

They need another zep-python than .venv's rc6, so they run in their own venv, `.venv-zep1` (`make zep1`, which
`make test` and `make pytest` depend on; pinned in tests/compat/zep1/requirements.txt): this test runs
tests/compat/zep1/check_zep1.py there with pytest, in a subprocess, against the suite's server.
"""

import os
import subprocess
import sys

import pytest

from tests.compat.conftest import API_KEY
from tests.serve_process import REPO_ROOT

ZEP1_DIR = REPO_ROOT / "tests" / "compat" / "zep1"
ZEP1_PYTHON = REPO_ROOT / ".venv-zep1" / "bin" / "python"
TIMEOUT_S = 300

pytestmark = pytest.mark.compat


def test_zep_python_1_5_and_langchains_community_classes_work_unmodified(base_url: str) -> None:
    if not ZEP1_PYTHON.exists():
        pytest.fail(f"{ZEP1_PYTHON} is missing: `make zep1` creates it (make test and make pytest do)")
    env = {**os.environ, "CHAT_MEMORY_URL": base_url, "CHAT_MEMORY_API_KEY": API_KEY, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)  # nothing of .venv's packages (rc6) in the other venv
    done = subprocess.run(
        [str(ZEP1_PYTHON), "-m", "pytest", "-q", "check_zep1.py"],
        cwd=ZEP1_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    sys.stdout.write(done.stdout[-20_000:])
    assert done.returncode == 0, f"zep-python 1.5.0 checks failed:\n{done.stdout[-20_000:]}\n{done.stderr[-5_000:]}"
    assert " passed" in done.stdout and " failed" not in done.stdout
