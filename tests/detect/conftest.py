"""Fixtures of the detector tests; shared helpers live in ``detect_support`` beside this file.

The folder is put on ``sys.path`` explicitly because the project runs pytest with
``--import-mode=importlib``, which does not make sibling modules of a test importable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from detect_support import GitRepo


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo(tmp_path / "repo")
