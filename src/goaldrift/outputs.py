"""Paths a user names for goaldrift to write (``--store``, ``--out``, ``--report``, ``--dir``), checked
before anything is computed or written.

Without the check a report folder given where a file should be, or a file where one of the path's
folders should be, ended a finished analysis (or a started run) in a traceback from ``mkdir`` or
``open``, after other files had been written. Here each is one ``BadInput`` (exit code 2) naming the
option, the path and what to do: ``check_output`` takes what the path must become (``file``: written
or replaced; ``folder``: created or filled; ``new folder``: must not exist yet) and checks the path
itself, the nearest folder of it that exists (a folder, not a file; writable, so a read-only mount is
refused too), and nothing else — it creates nothing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from goaldrift.errors import BadInput

Kind = Literal["file", "folder", "new folder"]


def check_output(path: Path, option: str, kind: Kind, error: type[BadInput] = BadInput) -> None:
    """Raise ``error`` if ``path`` cannot become a ``kind`` goaldrift writes; returns quietly if it can."""
    where = f"{option} {path}"
    if path.exists() or path.is_symlink():
        if kind == "new folder":
            raise error(f"{where} already exists: name a folder that does not exist yet")
        if kind == "file" and path.is_dir():
            raise error(f"{where} is a folder: name a file (in it, or elsewhere)")
        if kind == "folder" and not path.is_dir():
            raise error(f"{where} is a file, not a folder: name a folder (it is created if missing)")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise error(f"{where}: {folder} is a file, not a folder: choose a path in a folder")
    for target in (folder, path) if path.exists() else (folder,):
        if not os.access(target, os.W_OK):
            raise error(f"{where}: {target} cannot be written (read-only?): choose a writable place")
