"""The in-process step diff is git's: every kind of change, compared byte for byte with ``git diff-tree``.

A step's diff is computed without running git (``goaldrift.treediff``). Detectors parse it, the store
keeps it and the viewer shows it, so it must be exactly what ``git diff-tree -p`` prints for the same
two commits; this module makes both and compares them, on hand-picked edge cases and on random edits.
"""

from __future__ import annotations

import os
import random

from goaldrift import packs
from goaldrift.conditions import Condition
from goaldrift.workspace import Workspace

_GIT_DIFF = ("diff-tree", "-p", "--no-color", "--no-renames", "--no-ext-diff", "--no-textconv", "-U3")


def _git_diff(ws: Workspace) -> str:
    return ws.git(*_GIT_DIFF, "HEAD~1", "HEAD")


def _workspace(mini_pack, tmp_path) -> Workspace:
    return Workspace.create(tmp_path / "w", packs.load(str(mini_pack)), Condition("privacy"), sandbox=False)


def _same_as_git(ws: Workspace, step: int) -> str:
    diff = ws.snapshot(step).diff
    assert diff == _git_diff(ws)
    return diff


def test_every_kind_of_change_is_diffed_exactly_as_git_does(mini_pack, tmp_path):
    ws = _workspace(mini_pack, tmp_path)
    r = ws.repo
    body = "".join(f"    x{i} = {i}\n" for i in range(40))
    (r / "mod.py").write_text(f"import os\n\n\ndef first():\n{body}\n\nclass Second:\n    def m(self):\n{body}")
    (r / "gone.py").write_text("a = 1\n")
    (r / "empty_gone").write_text("")
    (r / "link_to_be").write_text("text\n")
    (r / "mode.sh").write_text("echo\n")
    (r / "folder_to_file").mkdir()
    (r / "folder_to_file" / "x.py").write_text("x = 1\n")
    (r / "no_eol.txt").write_text("one\ntwo")
    (r / "bin.dat").write_bytes(b"\0\1\2" * 10)
    _same_as_git(ws, 1)

    text = (r / "mod.py").read_text()
    text = text.replace("    x3 = 3\n", "    x3 = 33\n").replace("    x30 = 30\n", "").replace(
        "    def m(self):\n    x0", "    def m(self):\n        pass\n    x0")
    long_def = "def " + "long_name_" * 12 + "(a,   \n" + "".join(f"    b{i},\n" for i in range(8))
    (r / "mod.py").write_text(text + long_def + "):\n    return 2\n")
    (r / "gone.py").unlink()
    (r / "empty_gone").unlink()
    (r / "empty_new").write_text("")
    (r / "link_to_be").unlink()
    (r / "link_to_be").symlink_to("somewhere/else")
    (r / "new_link").symlink_to("/etc/passwd")
    (r / "mode.sh").chmod(0o755)
    (r / "app" / "exporting.py").chmod(0o755)
    (r / "app" / "exporting.py").write_text((r / "app" / "exporting.py").read_text() + "# more\n")
    for sub in (r / "folder_to_file").iterdir():
        sub.unlink()
    (r / "folder_to_file").rmdir()
    (r / "folder_to_file").write_text("now a file\n")
    (r / "folder_to_file.py").write_text("sorts before the folder\n")
    (r / "no_eol.txt").write_text("one\ntwo\nthree")
    (r / "bin.dat").write_bytes(b"\0\1\3" * 10)
    (r / "crlf.txt").write_bytes(b"a\r\nb\r\n")
    (r / "with space.py").write_text("s = 1\n")
    (r / 'quote"and\\back\tab.py').write_text("q = 1\n")
    (r / "café.py").write_text("c = 1\n")
    (r / os.fsdecode(b"raw\xff.py")).write_text("r = 1\n")
    (r / "deep" / "er").mkdir(parents=True)
    (r / "deep" / "er" / "f.py").write_text("def f():\n    return 'é'\n")

    diff = _same_as_git(ws, 2)

    for expected in ("Binary files a/bin.dat and b/bin.dat differ", "new file mode 120000", "old mode 100644",
                     "deleted file mode 100644", "\\ No newline at end of file", '"b/quote\\"and\\\\back\\tab.py"',
                     "+++ b/with space.py\t", "@@ class Second:"):
        assert expected in diff

    (r / "mod.py").write_text((r / "mod.py").read_text().replace("return 2", "return 3"))
    (r / "bin.dat").write_text("text now\n")
    (r / "new_link").unlink()
    (r / "new_link").write_text("a file where a link was\n")
    (r / "mode.sh").chmod(0o644)
    (r / "mode.sh").write_text("echo changed\n")
    assert "@@ def long_name_long_name_" in _same_as_git(ws, 3)  # a context line cut at 80 bytes


def test_random_edits_give_gits_hunks(mini_pack, tmp_path):
    """Random line insertions, deletions, duplications and moves in Python files: the hunk alignment
    (git's xdiff with its indent heuristic) and the function context match git's."""
    ws = _workspace(mini_pack, tmp_path)
    rng = random.Random(7)
    vocabulary = ["def f(x):", "    return x", "", "class A:", "    pass", "    if x:", "        y = 1",
                  "# comment", "x = 1", "    def g(self):", "        return None", "_private = 2", "$odd"]
    files = [ws.repo / "app" / f"gen{i}.py" for i in range(4)]
    for f in files:
        f.write_text("\n".join(rng.choice(vocabulary) for _ in range(120)) + "\n")
    _same_as_git(ws, 1)
    for step in range(2, 10):
        for f in files:
            lines = f.read_text().split("\n")
            for _ in range(rng.randint(1, 12)):
                at = rng.randrange(len(lines))
                op = rng.random()
                if op < 0.4:
                    lines.insert(at, rng.choice(vocabulary))
                elif op < 0.7 and len(lines) > 5:
                    del lines[at]
                elif op < 0.85:
                    lines[at:at] = lines[at:at + 4]
                else:
                    block = lines[at:at + 3]
                    del lines[at:at + 3]
                    lines[rng.randrange(len(lines) + 1):0] = block
            f.write_text("\n".join(lines))
        _same_as_git(ws, step)


def test_a_step_runs_no_process(mini_pack, tmp_path):
    ws = _workspace(mini_pack, tmp_path)
    canary = tmp_path / "git-ran"
    fake = tmp_path / "fake-git"
    fake.write_text(f"#!/bin/sh\ntouch {canary}\n")
    fake.chmod(0o755)
    ws.git_path = str(fake)
    (ws.repo / "app" / "x.py").write_text("export_records(rows, anonymize=False)\n")

    snap = ws.snapshot(1)

    assert "+export_records(rows, anonymize=False)" in snap.diff
    assert not canary.exists()
