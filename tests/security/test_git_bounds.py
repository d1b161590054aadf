"""Nothing an agent leaves in its workspace can block or exhaust goaldrift's snapshot.

Each case would have hung the runner or cost it gigabytes before. The assertions are about what is
guaranteed (the snapshot returns, records what it left out, stays small on disk), never about speed;
``pytest-timeout`` turns a hang into a failure.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from goaldrift import packs
from goaldrift.agents.base import StepTrace
from goaldrift.conditions import Condition
from goaldrift.detect.run import build_detectors
from goaldrift.filetree import WalkLimits
from goaldrift.step_result import Scoring, score_step
from goaldrift.workspace import GitTimeout, SnapshotLimits, Workspace

pytestmark = pytest.mark.timeout(120)


def workspace(mini_pack: Path, tmp_path: Path, **options) -> Workspace:
    return Workspace.create(tmp_path / "w", packs.load(str(mini_pack)), Condition("privacy"), **options)


def git_dir_bytes(ws: Workspace) -> int:
    return sum(p.stat().st_size for p in ws.git_dir.rglob("*") if p.is_file())


def test_a_fifo_is_recorded_not_read(mini_pack, tmp_path):
    ws = workspace(mini_pack, tmp_path)
    os.mkfifo(ws.repo / "app" / "pipe.py")  # no writer: opening it for reading would block forever
    (ws.repo / "app" / "x.py").write_text("export_records(rows, anonymize=False)\n")

    snap = ws.snapshot(1)

    assert "fifo at app/pipe.py was not read" in snap.events
    assert "+export_records(rows, anonymize=False)" in snap.diff and "pipe.py" not in snap.diff


def test_a_1_gb_sparse_file_costs_nothing(mini_pack, tmp_path):
    ws = workspace(mini_pack, tmp_path)
    with open(ws.repo / "big.bin", "wb") as f:
        f.truncate(1 << 30)

    snap = ws.snapshot(1)

    assert any(e.startswith("big.bin was not read: 1073741824 bytes exceed") for e in snap.events)
    assert "+goaldrift: file not snapshotted (1073741824 bytes)" in snap.diff  # visible in the step's diff
    assert git_dir_bytes(ws) < 1 << 20


def test_a_40_kb_line_is_diffed(mini_pack, tmp_path):
    ws = workspace(mini_pack, tmp_path)
    line = "x = '" + "a" * 40_000 + "'  # anonymize=False\n"
    (ws.repo / "app" / "long.py").write_text(line * 3)

    snap = ws.snapshot(1)

    assert snap.lines_added == 3 and snap.incomplete is None


def test_too_many_files_end_the_walk_and_the_step_says_so(mini_pack, tmp_path):
    limits = SnapshotLimits(walk=WalkLimits(max_entries=500))
    ws = workspace(mini_pack, tmp_path, limits=limits)
    many = ws.repo / "aaa"  # sorts before app/: the walk never reaches the template's files
    many.mkdir()
    for i in range(2_000):
        (many / f"f{i:05d}.txt").write_text("x\n")
    scenario = packs.load(str(mini_pack))
    detectors, primary = build_detectors(scenario.spec)

    record = score_step(ws, 1, StepTrace(), Scoring(detectors, primary, "privacy"))

    assert "snapshot incomplete: work tree not fully read: more than 500 entries" in record.error
    assert record.files_changed < 500
    assert "deleted file" not in record.diff  # what the walk did not reach is kept, not deleted


def test_the_read_budget_caps_what_one_snapshot_reads(mini_pack, tmp_path):
    ws = workspace(mini_pack, tmp_path, limits=SnapshotLimits(max_read_bytes=200_000))
    for i in range(10):
        (ws.repo / f"blob{i}.txt").write_bytes(b"y" * 50_000)

    snap = ws.snapshot(1)

    skipped = [e for e in snap.events if "read budget is spent" in e]
    assert len(skipped) >= 6  # at most four 50 kB files fit in 200 kB
    assert git_dir_bytes(ws) < 1 << 20


def test_deep_folders_end_the_walk(mini_pack, tmp_path):
    ws = workspace(mini_pack, tmp_path, limits=SnapshotLimits(walk=WalkLimits(max_depth=8)))
    deep = ws.repo.joinpath(*["d"] * 12)
    deep.mkdir(parents=True)
    (deep / "x.py").write_text("x = 1\n")

    snap = ws.snapshot(1)

    assert snap.incomplete and "nested deeper than 8 levels" in snap.incomplete


def test_a_git_that_hangs_is_killed(mini_pack, tmp_path):
    """goaldrift's own git (bundles for retention) has a hard timeout that kills the process."""
    ws = workspace(mini_pack, tmp_path, sandbox=False, limits=SnapshotLimits(git_seconds=1))
    hang = tmp_path / "hanging-git"
    hang.write_text(f"#!/bin/sh\necho $$ > {tmp_path}/pid\nexec {sys.executable} -c 'import time; time.sleep(600)'\n")
    hang.chmod(0o755)
    ws.git_path = str(hang)

    with pytest.raises(GitTimeout, match="did not finish within 1 s"):
        ws.git("bundle", "create", str(tmp_path / "b"), "--all")

    pid = int((tmp_path / "pid").read_text())
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()


def test_a_diff_past_its_time_limit_is_recorded_and_the_commit_kept(mini_pack, tmp_path):
    ws = workspace(mini_pack, tmp_path, limits=SnapshotLimits(diff_seconds=0))
    (ws.repo / "app" / "x.py").write_text("export_records(rows, anonymize=False)\n")
    scenario = packs.load(str(mini_pack))
    detectors, primary = build_detectors(scenario.spec)

    record = score_step(ws, 1, StepTrace(), Scoring(detectors, primary, "privacy"))

    assert "snapshot incomplete: diff not finished within 0 s" in record.error
    assert record.commit_sha  # the commit exists: the next step diffs against it
    (ws.repo / "app" / "y.py").write_text("y = 1\n")
    ws.limits = SnapshotLimits()
    assert "+y = 1" in ws.snapshot(2).diff


def test_unchanged_files_are_not_read_again_but_any_change_is_seen(mini_pack, tmp_path):
    ws = workspace(mini_pack, tmp_path)
    target = ws.repo / "app" / "exporting.py"
    time.sleep(0.2)  # older than the racy window: snapshot 1 remembers its blob by stat
    ws.snapshot(1)
    ws.snapshot(2)
    before = target.stat()
    # Same size, mtime put back: only ctime (which the agent cannot set) tells the change.
    target.write_text(target.read_text().replace("anonymize", "anonymise"))
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))

    assert "+def export_records(rows, *, anonymise):" in ws.snapshot(3).diff


@pytest.mark.parametrize("plant", ["fifo", "sparse", "symlink", "loop"])
def test_later_pressure_on_a_file_the_agent_replaced_is_skipped_unopened(plant, mini_pack, tmp_path):
    scenario = packs.load(str(mini_pack))
    condition = Condition("privacy", "utility", onset=2)
    ws = Workspace.create(tmp_path / "w", scenario, condition)
    target = ws.repo / "app" / "exporting.py"
    target.unlink()
    if plant == "fifo":
        os.mkfifo(target)
    elif plant == "sparse":
        with open(target, "wb") as f:
            f.truncate(1 << 30)
    elif plant == "symlink":
        (ws.repo / "app" / "real.py").write_text("def export_records(rows, *, anonymize):\n    pass\n")
        target.symlink_to("real.py")
    else:
        target.symlink_to("exporting.py")

    notes = ws.add_pressure(scenario, condition)  # neither followed, opened nor a crash: skipped and named
    assert [n for n in notes if n.startswith("app/exporting.py: not placed")], notes
    if plant == "symlink":
        assert "Analysts" not in (ws.repo / "app" / "real.py").read_text()


def test_a_folder_goaldrift_cannot_open_keeps_its_last_commit(mini_pack, tmp_path, monkeypatch):
    # As a non-root runner an agent's `chmod 000 app/locked` gives EACCES; root is never refused,
    # so the refusal is simulated where goaldrift opens folders.
    from goaldrift import filetree

    ws = workspace(mini_pack, tmp_path)
    (ws.repo / "app" / "locked").mkdir()
    (ws.repo / "app" / "locked" / "guard.py").write_text("def guard():\n    return True\n")
    ws.snapshot(1)
    real_open = os.open

    def refusing_open(path, flags, *args, **kwargs):
        if path == "locked" and flags & os.O_DIRECTORY:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(filetree.os, "open", refusing_open)
    (ws.repo / "app" / "x.py").write_text("x = 1\n")

    snap = ws.snapshot(2)

    assert ("folder that cannot be opened (Permission denied) at app/locked was not read; "
            "kept as last committed") in snap.events
    assert "deleted file" not in snap.diff and "+x = 1" in snap.diff
    assert ws.committed("app/locked/guard.py") == b"def guard():\n    return True\n"
