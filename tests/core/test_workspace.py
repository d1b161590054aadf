"""The workspace's commits: what a step's diff contains, in git's own format, from objects we write."""

from __future__ import annotations

import os
import shutil

from goaldrift import packs
from goaldrift.conditions import Condition
from goaldrift.detect.diff import parse_diff
from goaldrift.workspace import Workspace


def test_each_kind_of_change_appears_in_the_step_diff(mini_pack, tmp_path):
    ws = Workspace.create(tmp_path / "w", packs.load(str(mini_pack)), Condition("privacy"))
    (ws.repo / "app" / "__init__.py").unlink()
    (ws.repo / "app" / "exporting.py").chmod(0o755)
    (ws.repo / "app" / "new.py").write_text("x = 1\n")
    (ws.repo / "tool.sh").write_text("#!/bin/sh\n")
    (ws.repo / "tool.sh").chmod(0o755)
    (ws.repo / os.fsdecode(b"caf\xe9.py")).write_text("y = 2\n")  # not valid UTF-8

    snap = ws.snapshot(1)

    patches = {p.path: p for p in parse_diff(snap.diff)}
    assert patches["app/__init__.py"].deleted
    assert "old mode 100644\nnew mode 100755" in snap.diff
    assert patches["app/new.py"].added_lines() == {1}
    assert "new file mode 100755" in snap.diff
    assert snap.files_changed == 5 and snap.lines_added == 3
    ws.git("fsck", "--strict", "--no-dangling")


def test_later_pressure_is_its_own_commit_never_in_a_step_diff(mini_pack, tmp_path):
    scenario = packs.load(str(mini_pack))
    condition = Condition("privacy", "utility", onset=2)
    ws = Workspace.create(tmp_path / "w", scenario, condition)
    assert "Analysts need raw data" not in (ws.repo / "app" / "exporting.py").read_text()
    ws.snapshot(1)

    ws.add_pressure(scenario, condition)
    (ws.repo / "app" / "x.py").write_text("x = 1\n")
    diff = ws.snapshot(2).diff

    assert "Analysts need raw data" in (ws.repo / "app" / "exporting.py").read_text()
    assert "Analysts" not in diff and "+x = 1" in diff
    assert ws.git("log", "--format=%s").splitlines() == [
        "goaldrift: step 2", "goaldrift: pressure from step 2", "goaldrift: step 1", "goaldrift: initial state"]


def test_a_copied_workspace_continues_from_its_copied_history(mini_pack, tmp_path):
    ws = Workspace.create(tmp_path / "w", packs.load(str(mini_pack)), Condition("privacy"))
    (ws.repo / "a.py").write_text("a = 1\n")
    ws.snapshot(1)
    shutil.copytree(ws.repo, tmp_path / "copy" / "repo", symlinks=True)
    shutil.copytree(ws.git_dir, tmp_path / "copy" / "git")

    copy = Workspace(tmp_path / "copy" / "repo", tmp_path / "copy" / "git")
    (copy.repo / "a.py").write_text("a = 2\n")

    assert copy.snapshot(2).diff.count("\n-a = 1\n+a = 2\n") == 1


def test_junk_folders_are_never_committed(mini_pack, tmp_path):
    ws = Workspace.create(tmp_path / "w", packs.load(str(mini_pack)), Condition("privacy"))
    for junk in ("app/__pycache__/m.cpython-311.pyc", ".pytest_cache/v", "node_modules/x/i.js", "pkg.egg-info/P"):
        path = ws.repo / junk
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("junk\n")

    snap = ws.snapshot(1)

    assert snap.diff == "" and snap.events == ()


def test_committed_content_comes_from_our_objects_not_the_work_tree(mini_pack, tmp_path):
    ws = Workspace.create(tmp_path / "w", packs.load(str(mini_pack)), Condition("privacy"))
    (ws.repo / "app" / "new.py").write_text("x = 1\n")
    (ws.repo / "link.py").symlink_to("app/new.py")
    ws.snapshot(1)
    (ws.repo / "app" / "new.py").unlink()
    os.mkfifo(ws.repo / "app" / "new.py")  # what the agent does after the snapshot does not matter

    assert ws.committed("app/new.py") == b"x = 1\n"
    assert ws.committed("link.py") is None and ws.committed("app") is None and ws.committed("nope/x") is None


def _with_snapshot_ignore(mini_pack, entries: str):
    text = (mini_pack / "scenario.yaml").read_text(encoding="utf-8")
    (mini_pack / "scenario.yaml").write_text(text + f"\nsnapshot:\n  ignore: {entries}\n", encoding="utf-8")
    return packs.load(str(mini_pack))


def test_folders_a_pack_ignores_stay_out_of_snapshots_and_each_step_records_them(mini_pack, tmp_path):
    """snapshot.ignore names folders from the repository root: only those are left out (a folder of
    the same name deeper down, or a file of that name, is kept), and every step in which one exists
    records that it was left out; a step after the folder is gone records nothing."""
    scenario = _with_snapshot_ignore(mini_pack, "[dist/, build/out/]")
    ws = Workspace.create(tmp_path / "w", scenario, Condition("privacy"))
    for rel in ("dist/app.js", "build/out/app.js", "build/keep.txt", "app/dist/kept.py"):
        (ws.repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws.repo / rel).write_text("x = 1\n")
    snap = ws.snapshot(1)
    changed = {p.path for p in parse_diff(snap.diff)}
    assert changed == {"build/keep.txt", "app/dist/kept.py"}
    assert snap.events == ("build/out/ was left out: the pack lists it in snapshot.ignore (build output)",
                           "dist/ was left out: the pack lists it in snapshot.ignore (build output)")
    (ws.repo / "dist" / "app.js").write_text("x = 2\n")
    assert ws.snapshot(2).diff == "" and len(ws.snapshot(3).events) == 2
    shutil.rmtree(ws.repo / "dist")
    shutil.rmtree(ws.repo / "build")
    snap = ws.snapshot(4)
    assert {p.path for p in parse_diff(snap.diff)} == {"build/keep.txt"} and snap.events == ()
