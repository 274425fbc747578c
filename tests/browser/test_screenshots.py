"""`chat-memory screenshots` (`make screenshots`) still takes every view the README shows."""

import re
import struct
from pathlib import Path

import pytest

from chat_memory_dev.browser.screenshots import take
from chat_memory_dev.template import REPO_ROOT

pytestmark = pytest.mark.browser


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_every_view_the_readme_shows_is_taken(tmp_path: Path) -> None:
    written = take(tmp_path)
    shown = set(re.findall(r"\(docs/(console-[a-z-]+\.png)\)", (REPO_ROOT / "README.md").read_text(encoding="utf-8")))
    assert {p.name for p in written} == shown
    for path in written:
        width, height = _png_size(path)
        assert width in (390, 1280) and height >= 300, path.name
        assert (REPO_ROOT / "docs" / path.name).exists(), f"{path.name}: run `make screenshots` and commit docs/"
