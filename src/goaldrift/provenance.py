"""Which goaldrift produced a result: its version and, when it runs from a checkout, the git revision.

Recorded with every experiment in the store and in every report, so a number can be traced back to
the code that computed it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_revision() -> str | None:
    """The git revision (full hash) of goaldrift itself, or None outside a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None
