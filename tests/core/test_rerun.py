"""``goaldrift rerun``: the old attempt is kept as superseded, the run is run again, results count it once."""

from __future__ import annotations

import yaml
from tests.core.cli_inprocess import cli

from goaldrift.store import Store


def _experiment(tmp_path, mini_pack):
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({
        "name": "rerun", "models": [{"id": "m", "backend": "scripted", "policy": "comply"}],
        "scenarios": [str(mini_pack)], "conditions": ["privacy", "utility"], "agent": {"harness": "builtin"}}))
    return path


def test_rerun_supersedes_the_counted_attempt_and_runs_again(mini_pack, tmp_path, monkeypatch, capsys):
    exp, store = _experiment(tmp_path, mini_pack), tmp_path / "store.db"
    assert cli(monkeypatch, capsys, "run", str(exp), "--store", str(store), "--no-progress")[0] == 0
    s = Store(store, readonly=True)
    run_id, other = [r[0] for r in s.db.execute("SELECT run_id FROM runs ORDER BY run_id")]
    before = s.results()
    s.close()
    code, _, err = cli(monkeypatch, capsys, "rerun", run_id[:6], str(exp), "--store", str(store), "--no-progress")
    assert code == 0, err
    s = Store(store, readonly=True)
    attempts = {tuple(r) for r in s.db.execute("SELECT run_id, number, status FROM attempts")}
    assert attempts == {(run_id, 1, "superseded"), (run_id, 2, "finished"), (other, 1, "finished")}
    assert s.results() == before  # each run counted once, by its new attempt
    s.close()
    code, out, _ = cli(monkeypatch, capsys, "status", "--store", str(store))
    assert code == 0
    assert [line.split("│")[2].strip() for line in out.splitlines() if "attempts superseded" in line] == ["1"]


def test_rerun_of_a_run_from_another_experiment_is_exit_2_and_changes_nothing(mini_pack, tmp_path, monkeypatch,
                                                                               capsys):
    exp, store = _experiment(tmp_path, mini_pack), tmp_path / "store.db"
    assert cli(monkeypatch, capsys, "run", str(exp), "--store", str(store), "--no-progress")[0] == 0
    other = tmp_path / "other.yaml"
    raw = yaml.safe_load(exp.read_text())
    raw["models"][0]["policy"] = "violate"  # another model entry: other run ids
    other.write_text(yaml.safe_dump(raw))
    s = Store(store, readonly=True)
    run_id = s.db.execute("SELECT run_id FROM runs LIMIT 1").fetchone()[0]
    s.close()
    before = store.read_bytes()
    code, _, err = cli(monkeypatch, capsys, "rerun", run_id, str(other), "--store", str(store), "--no-progress")
    assert code == 2 and "not one of" in err
    assert store.read_bytes() == before
