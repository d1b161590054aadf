"""``goaldrift show``: a run's steps, one step in full, run-id prefixes, and hostile stored text."""

from __future__ import annotations

import json
import time

import pytest
from tests.core.cli_inprocess import cli

from goaldrift.errors import BadInput
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment
from goaldrift.stepview import mark_evidence, printable, resolve_run
from goaldrift.store import Store, blob

HOSTILE = "evil\x1b]0;pwned\x07\x1b[2J\x9b31m\u202etxt.exe\r"


@pytest.fixture
def results(mini_pack, tmp_path):
    raw = {"name": "show", "models": [{"id": "m", "backend": "scripted", "policy": "violate_from:2"}],
           "scenarios": [str(mini_pack)], "conditions": ["privacy"], "agent": {"harness": "builtin"}}
    store_path = tmp_path / "store.db"
    assert run_experiment(experiment_from_dict(raw), store_path, progress=False).complete
    store = Store(store_path)
    run_id = store.db.execute("SELECT run_id FROM runs").fetchone()[0]
    store.close()
    return store_path, run_id


def test_step_shows_request_transcript_marked_evidence_and_every_verdict(results, monkeypatch, capsys):
    store, run_id = results
    code, out, err = cli(monkeypatch, capsys, "show", run_id[:6], "--step", "2", "--store", str(store))
    assert code == 0, err
    assert "step 2: violated" in out
    assert "Add app/export_2.py" in out  # the request as the agent got it
    assert "write_file" in out and "wrote app/export_2.py" in out  # a tool call with its output
    marked = [line for line in out.splitlines() if line.startswith(">> ")]
    assert marked == [">> +    return export_records(rows, anonymize=False)"]
    assert "anon-ast: violated" in out and "anon-regex: violated" in out


def test_run_overview_and_listing(results, monkeypatch, capsys):
    store, run_id = results
    code, out, err = cli(monkeypatch, capsys, "show", run_id, "--store", str(store))
    assert code == 0, err
    outcomes = [line.split("│")[2].strip() for line in out.splitlines() if line.startswith("│")]
    assert outcomes == ["complied", "violated", "violated"]
    code, out, _ = cli(monkeypatch, capsys, "show", "--store", str(store))
    assert code == 0 and run_id in out


def test_prefixes_unknown_ambiguous_and_bad_step_are_exit_2(results, monkeypatch, capsys):
    store_path, run_id = results
    store = Store(store_path)
    other = run_id[:3] + ("0" if run_id[3] != "0" else "1") + "f" * 12
    store.db.execute("INSERT INTO runs (run_id, experiment_id, model_id, scenario_id, condition, constraint_side, "
                     "placement, repeat, n_steps, harness, scenario_hash, spec_json) "
                     "VALUES (?, 'e', 'm', 's', 'c', 'privacy', 'agents_md', 0, 3, 'builtin', 'h', '{}')", (other,))
    assert resolve_run(store, run_id[:4]) == run_id
    with pytest.raises(BadInput, match="ambiguous"):
        resolve_run(store, run_id[:3])
    with pytest.raises(BadInput, match="no run"):
        resolve_run(store, "ffffffffffffffff" if run_id[0] != "f" else "0000000000000000")
    with pytest.raises(BadInput, match="hexadecimal"):
        resolve_run(store, "%")
    store.close()
    code, _, err = cli(monkeypatch, capsys, "show", run_id[:3], "--store", str(store_path))
    assert code == 2 and "ambiguous" in err
    code, _, err = cli(monkeypatch, capsys, "show", run_id, "--step", "9", "--store", str(store_path))
    assert code == 2 and "no such step" in err


def test_hostile_stored_text_reaches_the_terminal_without_control_characters(results, monkeypatch, capsys):
    store_path, run_id = results
    store = Store(store_path)
    trace = {"tool_calls": [{"name": HOSTILE, "input": {"cmd": HOSTILE}, "output": HOSTILE, "status": "completed"}],
             "text": HOSTILE, "errors": [HOSTILE]}
    evidence = [{"side": "utility", "file": HOSTILE, "line": 1, "snippet": HOSTILE, "rule": HOSTILE}]
    store.db.execute("UPDATE steps SET trace=?, diff=?, error=?, detectors_json=? WHERE step=1",
                     (blob(trace), blob(f"+++ b/{HOSTILE}\n+{HOSTILE}\n"), HOSTILE,
                      json.dumps([{"detector": HOSTILE, "outcome": "violated", "evidence": evidence}])))
    store.db.execute("INSERT INTO judgements VALUES (1, 1, ?, 'violated', ?, NULL, ?)", (HOSTILE, HOSTILE, time.time()))
    store.close()
    for args in (["--step", "1"], []):
        code, out, err = cli(monkeypatch, capsys, "show", run_id, *args, "--store", str(store_path))
        assert code == 0, err
        assert "evil" in out and "pwned" in out
        assert not any(c in out + err for c in "\x1b\x07\x9b\u202e\r")


def test_printable_keeps_text_and_layout():
    assert printable("a\tb\nc ü 字") == "a\tb\nc ü 字"
    assert printable("\x1b[31mred\x1b[0m") == "[31mred[0m"
    assert "\x00" not in printable({"k": "\x00v"})


def test_evidence_is_marked_at_its_post_step_line_only():
    diff = ("--- a/f.py\n+++ b/f.py\n@@ -1,2 +1,3 @@\n a\n+x = 1\n b\n+x = 1\n"
            "--- a/g.py\n+++ b/g.py\n@@ -5 +5,2 @@\n+x = 1\n")
    lines = mark_evidence(diff, [{"file": "f.py", "line": 4}, {"file": "g.py", "line": 5}])
    assert [(line.text, line.evidence) for line in lines if line.evidence] == [("+x = 1", True), ("+x = 1", True)]
    assert [i for i, line in enumerate(lines) if line.evidence] == [6, 10]


def test_stored_line_breaks_never_split_a_table_row(results, monkeypatch, capsys):
    """An error the agent wrote, or any stored name, with line breaks: each table row stays one line
    (the break is shown as \\n), in `show`, `status` and `results`."""
    store_path, run_id = results
    store = Store(store_path)
    store.db.execute("UPDATE steps SET error=? WHERE step=1", ("first line\n│ 9 │ complied\n[red]x",))
    store.db.execute("UPDATE runs SET model_id=?", ("m\nsecond",))
    store.close()

    def rows(*args: str) -> list[str]:
        code, out, err = cli(monkeypatch, capsys, *args, "--store", str(store_path))
        assert code == 0, err
        return [line for line in out.splitlines() if line.startswith("│")]

    steps = rows("show", run_id)
    assert len(steps) == 3 and "first line\\n│ 9 │ complied\\n[red]x" in steps[0]
    listing = rows("show")
    assert len(listing) == 1 and "m\\nsecond" in listing[0]
    by_step = rows("results")
    assert len(by_step) == 3 and all(r.startswith("│ m\\nsecond ") for r in by_step)
    assert any("model m\\nsecond" in r and "calls" in r for r in rows("status"))
