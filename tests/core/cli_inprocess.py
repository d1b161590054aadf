"""``goaldrift ARGS`` in this process through the console entry point: exit code and output as a user
gets them, without a subprocess's start-up (seconds on a busy machine)."""

from __future__ import annotations

import sys

import pytest

from goaldrift.cli import app


def cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``goaldrift ARGS``."""
    monkeypatch.setattr(sys, "argv", ["goaldrift", *args])
    with pytest.raises(SystemExit) as exit_:
        app()
    out = capsys.readouterr()
    code = exit_.value.code
    return (0 if code is None else code), out.out, out.err
