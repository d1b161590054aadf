"""``goaldrift clean``: what is deleted, what is compacted (and restorable), and what is never touched."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
from tests.core.cli_inprocess import cli

from goaldrift.experiment import experiment_from_dict
from goaldrift.retention import BUNDLE, clean, plan_cleanup
from goaldrift.runner import run_experiment
from goaldrift.store import Store


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def results(mini_pack, tmp_path) -> dict:
    """A store with one finished run, plus by hand: an aborted and a running attempt's folders, an
    orphan folder, a symlinked entry, an earlier store's folder, and a file outside that links point to."""
    raw = {"name": "clean", "models": [{"id": "m", "backend": "scripted", "policy": "comply"}],
           "scenarios": [str(mini_pack)], "conditions": ["privacy"], "agent": {"harness": "builtin"}}
    store_path = tmp_path / "results" / "store.db"
    assert run_experiment(experiment_from_dict(raw), store_path, progress=False).complete
    store = Store(store_path)
    base = store.workspaces_dir()
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.txt").write_text("keep me")
    run_id = store.db.execute("SELECT run_id FROM runs").fetchone()[0]
    for number, status in ((7, "aborted"), (8, "running"), (9, "failed"), (10, "superseded")):
        folder = base / f"{run_id}-a{number}"
        (folder / "repo").mkdir(parents=True)
        (folder / "repo" / "link").symlink_to(outside / "data.txt")
        (folder / "repo" / "ro").mkdir()
        (folder / "repo" / "ro" / "f").write_text("x")
        (folder / "repo" / "ro").chmod(0o500)
        store.db.execute("INSERT INTO attempts (run_id, number, status, started_at, workspace) VALUES (?,?,?,?,?)",
                         (run_id, number, status, time.time(), str(folder / "repo")))
    (base / "orphan-a1" / "repo").mkdir(parents=True)
    (base / "sneaky").symlink_to(outside)
    earlier = base.parent / "store-0123456789ab"
    (earlier / "x-a1" / "repo").mkdir(parents=True)
    store.close()
    return {"store": store_path, "base": base, "outside": outside, "run_id": run_id, "earlier": earlier}


def test_dry_run_changes_nothing_and_lists_every_action(results):
    before = _tree(results["base"].parent)
    actions = clean(results["store"], dry_run=True)
    assert _tree(results["base"].parent) == before
    by_name = {a.path.name: a for a in actions}
    rid = results["run_id"]
    assert by_name[f"{rid}-a1"].action == "compact"
    assert by_name[f"{rid}-a7"].action == by_name[f"{rid}-a9"].action == by_name[f"{rid}-a10"].action == "delete"
    assert by_name[f"{rid}-a8"].action == "keep"
    assert by_name["orphan-a1"].action == "delete" and by_name["orphan-a1"].status == "orphan"
    assert by_name["sneaky"].action == "skip"
    assert by_name["store-0123456789ab"].action == "delete"


def test_clean_deletes_failed_aborted_orphans_keeps_running_and_never_follows_links(results):
    base, rid = results["base"], results["run_id"]
    clean(results["store"])
    remaining = sorted(p.name for p in base.iterdir())
    assert remaining == sorted([f"{rid}-a1", f"{rid}-a8", "sneaky"])
    assert not results["earlier"].exists()
    assert (results["outside"] / "data.txt").read_text() == "keep me"  # linked from deleted folders
    assert (base / "sneaky").is_symlink() and (base / "sneaky" / "data.txt").exists()
    assert (base / f"{rid}-a8" / "repo" / "ro" / "f").exists()  # running: untouched


def test_finished_workspace_is_compacted_and_every_step_commit_restorable(results, tmp_path):
    store = Store(results["store"], readonly=True)
    shas = [r[0] for r in store.db.execute("SELECT commit_sha FROM steps ORDER BY step")]
    store.close()
    assert len(shas) == 3
    folder = results["base"] / f"{results['run_id']}-a1"
    size_before = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    clean(results["store"])
    assert sorted(p.name for p in folder.iterdir()) == [BUNDLE]
    assert (folder / BUNDLE).stat().st_size < size_before
    restored = tmp_path / "restored"
    subprocess.run(["git", "clone", "-q", str(folder / BUNDLE), str(restored)], check=True)
    for sha in shas:
        subprocess.run(["git", "-C", str(restored), "cat-file", "-e", f"{sha}^{{commit}}"], check=True)
    assert (restored / "app" / "export_3.py").is_file()  # the work tree at the last step
    again = {a.path.name: a.action for a in plan_cleanup(Store(results["store"], readonly=True))}
    assert again[folder.name] == "keep"


def test_keep_none_deletes_finished_workspaces_too(results):
    clean(results["store"], keep="none")
    assert not (results["base"] / f"{results['run_id']}-a1").exists()
    assert (results["base"] / f"{results['run_id']}-a8").exists()


def test_cli_clean_dry_run_json_and_bad_keep(results, monkeypatch, capsys):
    code, out, err = cli(monkeypatch, capsys, "clean", "--store", str(results["store"]), "--dry-run", "--json")
    assert code == 0, err
    assert {a["action"] for a in json.loads(out)} == {"compact", "delete", "keep", "skip"}
    code, _, err = cli(monkeypatch, capsys, "clean", "--store", str(results["store"]), "--keep", "everything")
    assert code == 2 and "--keep" in err
    code, _, err = cli(monkeypatch, capsys, "clean", "--store", str(results["store"].parent / "missing.db"))
    assert code == 2 and "no results store" in err  # a wrong --store path is bad input


def test_an_earlier_stores_folder_is_kept_when_a_namesake_store_could_own_it(results):
    (results["store"].parent / "store.sqlite").write_bytes(b"")  # another store with the same stem
    clean(results["store"])
    assert results["earlier"].exists()
