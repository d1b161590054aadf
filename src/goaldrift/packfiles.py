"""A pack's files, read without trusting the pack.

A pack is data from someone else; goaldrift reads it on the host and copies its template into every
workspace. So:

- paths a pack names (``template:``, ``steps[].reference``) are relative and stay inside the pack
  root, also after resolving symlinks (absolute paths and ``..`` escapes are refused);
- the template is copied without following symlinks: a symlink is recreated as a symlink, and one
  whose target resolves outside the template is a pack error; FIFOs, sockets and devices are pack
  errors; files over ``MAX_FILE_BYTES`` (a sparse 1 GB file included) and templates over
  ``MAX_TEMPLATE_BYTES`` or ``TEMPLATE_LIMITS`` are pack errors;
- the pack digest (recorded per run, part of run ids) ignores caches that tools write into a pack
  (``.pytest_cache``, ``__pycache__``, ``*.pyc``, ...), so running a pack's tests never changes its
  hash and results never pool two hashes for one pack.

Every problem is a ``(file, field, reason)`` triple like the rest of pack loading.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from goaldrift.errors import ScenarioError
from goaldrift.filetree import Item, WalkLimit, WalkLimits, read_file, read_link, read_regular, walk

if TYPE_CHECKING:
    from goaldrift.scenario import Scenario

Problem = tuple[str, str, str]

MAX_FILE_BYTES = 8 << 20
MAX_TEMPLATE_BYTES = 64 << 20
MAX_PACK_BYTES = 256 << 20
MAX_YAML_BYTES = 1 << 20
TEMPLATE_LIMITS = WalkLimits(max_entries=20_000, max_depth=32, max_file_bytes=MAX_FILE_BYTES, seconds=60.0)
CACHE_DIRS = frozenset({".git", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules"})


def _prune(rel: str, name: str, is_dir: bool) -> bool:
    """Tool caches and VCS metadata: never part of a pack's content (not hashed, not copied)."""
    return (is_dir and name in CACHE_DIRS) or name.endswith(".pyc")


def path_problem(root: Path, rel: str) -> str | None:
    """Why ``rel`` may not name a path of the pack at ``root``, or None if it stays inside."""
    p = PurePosixPath(rel)
    if p.is_absolute() or not p.parts:
        return f"{rel!r} must be a relative path inside the pack"
    if ".." in p.parts:
        return f"{rel!r} must not contain '..' (it has to stay inside the pack)"
    real_root = Path(os.path.realpath(root))
    if not Path(os.path.realpath(root.joinpath(*p.parts))).is_relative_to(real_root):
        return f"{rel!r} leads outside the pack through a symlink"
    return None


def read_text(root: Path, rel: str, max_bytes: int = MAX_YAML_BYTES) -> str:
    """A text file of the pack: inside the root, a regular file (never a FIFO), at most ``max_bytes``.

    Raises ``FileNotFoundError`` if it does not exist, ``ValueError`` with the reason otherwise.
    """
    why = path_problem(root, rel)
    if why:
        raise ValueError(why)
    path = os.path.realpath(root.joinpath(*PurePosixPath(rel).parts))
    data = read_file(path, max_bytes, follow=False)
    return data.decode("utf-8")


def _special(item: Item) -> str:
    if item.error:
        return f"cannot be opened ({item.error})"
    return f"a {item.kind} cannot be part of a pack (only files, folders and symlinks inside it)"


def _oversized(item: Item) -> str:
    return f"{item.st.st_size} bytes, more than the {MAX_FILE_BYTES}-byte limit for a pack file"


def _link_problem(template: Path, item: Item) -> str | None:
    target = read_link(item)
    if os.path.isabs(target):
        return f"symlink to the absolute path {target!r} (packs are copied without following links)"
    real_template = Path(os.path.realpath(template))
    if not Path(os.path.realpath(template / item.rel)).is_relative_to(real_template):
        return f"symlink to {target!r} leads outside the template"
    return None


def _template_items(template: Path, problems: list[Problem]) -> list[tuple[Item, bytes | str]]:
    """Walk the template, checking every entry; returns (item, bytes or link target) for the sound ones.

    Only usable while the walk is alive, so the caller receives the content, not the item's fd.
    """
    out: list[tuple[Item, bytes | str]] = []
    total = 0
    try:
        for item in walk(template, prune=_prune, limits=TEMPLATE_LIMITS):
            where = str(template / item.rel)
            if item.kind == "symlink":
                why = _link_problem(template, item)
                if why:
                    problems.append((where, "(file)", why))
                else:
                    out.append((item, read_link(item)))
                continue
            if item.kind != "file":
                problems.append((where, "(file)", _special(item)))
                continue
            data = read_regular(item, MAX_FILE_BYTES)
            if data is None:
                problems.append((where, "(file)", _oversized(item)))
                continue
            total += len(data)
            if total > MAX_TEMPLATE_BYTES:
                problems.append((str(template), "(folder)", f"more than {MAX_TEMPLATE_BYTES} bytes of files"))
                break
            out.append((item, data))
    except WalkLimit as exc:
        problems.append((str(template), "(folder)", f"template too large: {exc}"))
    except OSError as exc:
        problems.append((str(template), "(folder)",
                         f"cannot be read without following links: {exc.strerror or exc}"))
    return out


def template_problems(template: Path) -> list[Problem]:
    problems: list[Problem] = []
    _template_items(template, problems)
    return problems


def copy_template(scenario: Scenario, dest: Path) -> None:
    """Copy the template to ``dest`` (which must not exist): symlinks as symlinks, modes kept.

    The checks of loading are repeated on the copy (a pack can change on disk after loading).
    """
    problems: list[Problem] = []
    items = _template_items(scenario.template_dir, problems)
    if problems:
        raise ScenarioError(problems)
    dest.mkdir()
    for item, content in items:
        target = dest.joinpath(*item.rel.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            os.symlink(content, target)
        else:
            target.write_bytes(content)
            if item.st.st_mode & 0o111:
                target.chmod(0o755)


def scan_pack(root: Path) -> tuple[str, list[Problem]]:
    """The pack's digest, and the files anywhere in it that goaldrift will not read.

    The digest is sha256 over the relative path and bytes of every file, caches left out; symlinks
    count as their target text. Files are read no-follow and capped; a special or oversized file is
    a problem (a load error), so the cap never decides the hash of a pack that loads.
    """
    h = hashlib.sha256()
    problems: list[Problem] = []
    total = 0
    try:
        for item in walk(Path(os.path.realpath(root)), prune=_prune, limits=TEMPLATE_LIMITS):
            rel = item.rel.encode("utf-8", "surrogateescape")
            if item.kind == "symlink":
                h.update(rel + b"\0symlink\0" + read_link(item).encode("utf-8", "surrogateescape"))
                continue
            data = read_regular(item, MAX_FILE_BYTES) if item.kind == "file" else None
            if data is None:
                why = _special(item) if item.kind != "file" else _oversized(item)
                problems.append((str(root / item.rel), "(file)", why))
                continue
            total += len(data)
            if total > MAX_PACK_BYTES:
                problems.append((str(root), "(folder)", f"more than {MAX_PACK_BYTES} bytes of files"))
                break
            h.update(rel + b"\0")
            h.update(data)
    except WalkLimit as exc:
        problems.append((str(root), "(folder)", f"pack too large: {exc}"))
    return h.hexdigest(), problems


def pack_digest(root: Path) -> str:
    return scan_pack(root)[0]
