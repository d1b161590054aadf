"""Exit codes of the real entry point: 0 only when everything asked for was done, 1 when runs (or judge
calls, or a required component) failed — with a summary of why — and 2 for bad input, reported before
anything is written (the store byte for byte, no log file)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import run_cli

from goaldrift.agents.builtin import BuiltinAgent
from goaldrift.errors import AgentError
from tests.core.cli_inprocess import cli


def experiment(pack: Path, **over) -> dict:
    return {"name": "exit-codes", "models": [{"id": "c", "backend": "scripted"}], "scenarios": [str(pack)],
            "conditions": ["utility", "privacy"], "agent": {"harness": "builtin", "limits": {"wall_time_s": 60}},
            "completion": False, **over}  # `run` in a subprocess: conftest's switch does not reach it


def write(tmp_path: Path, raw: dict | str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw), errors="surrogateescape")
    return path


def privacy_runs_fail(monkeypatch):
    """Make the builtin agent fail to start in runs whose constraint is privacy; returns the fix."""
    real_start = BuiltinAgent.start

    async def start_unless_privacy(self, session):
        if "anonymize=True" in (session.workspace / "AGENTS.md").read_text():
            raise AgentError("the harness would not start")
        await real_start(self, session)

    monkeypatch.setattr(BuiltinAgent, "start", start_unless_privacy)
    return lambda: monkeypatch.setattr(BuiltinAgent, "start", real_start)


def test_run_exits_1_with_the_reasons_when_a_run_fails_then_0_once_resumed(mini_pack, tmp_path, monkeypatch,
                                                                           capsys):
    exp = write(tmp_path, experiment(mini_pack))
    store = tmp_path / "results" / "store.db"
    fixed = privacy_runs_fail(monkeypatch)
    code, out, _ = cli(monkeypatch, capsys, "run", str(exp), "--store", str(store), "--no-progress")
    assert code == 1
    assert "1 finished now, 1 failed" in out and "the harness would not start" in out
    assert "Not every planned run finished" in out

    fixed()
    code, out, _ = cli(monkeypatch, capsys, "run", str(exp), "--store", str(store), "--no-progress")
    assert code == 0, out
    assert "1 already finished, 1 finished now, 0 failed" in out


def test_usage_errors_exit_2_without_a_traceback(tmp_path):
    for args in (["run"], ["run", "x.yaml", "--bogus"], ["no-such-command"], ["run", "x.yaml", "-j", "0"]):
        done = run_cli(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and ("Usage" in done.stderr or "Error" in done.stderr), args


def test_doctor_exits_1_when_something_required_is_missing(tmp_path):
    env = {"GOALDRIFT_HOME": str(tmp_path / "empty-home"), "PATH": str(Path(sys.executable).parent)}
    done = run_cli("doctor", "--json", env=env)
    assert done.returncode == 1, done.stdout
    assert '"ok": false' in done.stdout


def test_doctor_exit_code_is_its_verdict():
    """On a machine set up by ``scripts/setup`` (as ``make test`` does) this is the exit-0 case."""
    done = run_cli("doctor", "--json")
    assert done.returncode == (0 if json.loads(done.stdout)["ok"] else 1), done.stdout


def test_validate_exits_2_for_a_broken_pack_and_0_for_a_good_one(mini_pack, tmp_path, monkeypatch, capsys):
    assert cli(monkeypatch, capsys, "scenarios", "validate", str(mini_pack))[0] == 0
    (mini_pack / "references" / "02-utility.yaml").unlink()
    (mini_pack / "references" / "03-privacy.yaml").unlink()
    code, _, err = cli(monkeypatch, capsys, "scenarios", "validate", str(mini_pack))
    assert code == 2 and "02-utility.yaml" in err and "03-privacy.yaml" in err, "every file problem at once"


@pytest.fixture
def filled_store(mini_pack, tmp_path, monkeypatch, capsys) -> Path:
    store = tmp_path / "results" / "store.db"
    exp = write(tmp_path, experiment(mini_pack, conditions=["utility"]), "good.yaml")
    assert cli(monkeypatch, capsys, "run", str(exp), "--store", str(store), "--no-progress")[0] == 0
    return store


def test_judge_exits_1_when_its_calls_fail_and_2_without_a_store(filled_store, mini_pack, tmp_path, monkeypatch,
                                                                   capsys):
    judge = write(tmp_path, {"id": "j", "backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m",
                             "max_retries": 0}, "judge.yaml")
    code, out, err = cli(monkeypatch, capsys, "judge", "--store", str(filled_store), "--model-config", str(judge),
                         "--packs", str(mini_pack))
    assert code == 1 and "3 verdict(s) failed" in out, out + err
    code, _, err = cli(monkeypatch, capsys, "judge", "--store", str(tmp_path / "none.db"), "--model-config",
                       str(judge))
    assert code == 2 and "no results store" in err


def folder_state(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


DEEP = "name: deep\nmodels: " + "[" * 5000 + "]" * 5000 + "\n"
BOMB = """name: bomb
models:
  - id: c
    backend: scripted
    params:
      a: &a [x, x, x, x, x, x, x, x, x]
      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
      f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
scenarios: [utility-privacy]
"""


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def bad_experiment(case: str, pack: Path) -> tuple[dict | str, str]:
    """(the experiment, a word its error message must contain)."""
    agent = {"harness": "builtin"}
    if case == "unknown_opencode_option":
        return experiment(pack, agent={"harness": "opencode", "options": {"sandbx": "none"}}), "sandbx"
    if case == "bad_opencode_option_value":
        return experiment(pack, agent={"harness": "opencode", "options": {"driver": "telnet"}}), "driver"
    if case == "unknown_harness":
        return experiment(pack, agent={"harness": "aider"}), "unknown harness"
    if case == "bad_limit":
        return experiment(pack, agent={**agent, "limits": {"wall_time_s": -1}}), "wall_time_s"
    if case == "bad_factor":
        return experiment(pack, factors={"onset": ["two"]}), "onset"
    if case == "unknown_backend":
        return experiment(pack, models=[{"id": "x", "backend": "anthropic-magic"}]), "backend"
    if case == "unknown_model":
        return experiment(pack, models=[{"id": "x", "backend": "local", "model": "no-such-model"}]), \
            "no-such-model"
    if case == "unknown_param":
        return experiment(pack, models=[{"id": "x", "backend": "local", "params": {"n_ctxx": 4}}]), "n_ctxx"
    if case == "mistyped_param":
        return experiment(pack, models=[{"id": "x", "backend": "local", "params": {"flash_attn": "yes"}}]), \
            "flash_attn"
    if case == "file_url":
        return experiment(pack, models=[{"id": "x", "backend": "openai", "base_url": "file:///etc/passwd",
                                         "model": "m"}]), "http"
    if case == "openai_without_url":
        return experiment(pack, models=[{"id": "x", "backend": "openai", "model": "m"}]), "base_url"
    if case == "missing_key":
        return experiment(pack, models=[{"id": "x", "backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                                         "model": "m", "api_key_env": "GD_NOT_SET_KEY"}]), "GD_NOT_SET_KEY"
    if case == "missing_sandbox":
        return experiment(pack), "install"  # prlimit or bubblewrap: whichever the probe misses first
    if case == "deep":
        return DEEP, "nested too deeply"
    if case == "deep_but_parsable":
        return experiment(pack, description=nested(40)), "nested more than 32"
    if case == "alias_bomb":
        return BOMB, "aliases"
    if case == "huge":
        return "name: huge\ndescription: " + "x" * 1_100_000 + "\n", "bytes"
    if case == "duplicate_key":  # PyYAML alone keeps the last `steps` and says nothing
        return yaml.safe_dump(experiment(pack)) + "steps: 1\nsteps: 2\n", "duplicate key 'steps'"
    if case == "not_utf8":
        return "name: caf\udce9\n", "UTF-8"  # written with surrogateescape: the byte 0xE9
    if case == "key_variable_with_nul":
        return experiment(pack, models=[{"id": "x", "backend": "openai", "base_url": "http://127.0.0.1:9/v1",
                                         "model": "m", "api_key_env": "KEY\0X"}]), "not an environment variable name"
    if case == "fifo":  # a FIFO (or /dev/zero) as the experiment would block or fill memory
        return "", "not a regular file"
    raise AssertionError(case)


CASES = ["unknown_opencode_option", "bad_opencode_option_value", "unknown_harness", "bad_limit", "bad_factor",
         "unknown_backend", "unknown_model", "unknown_param", "mistyped_param", "file_url", "openai_without_url",
         "missing_key", "missing_sandbox", "deep", "deep_but_parsable", "alias_bomb", "huge", "duplicate_key",
         "not_utf8", "fifo", "key_variable_with_nul"]


@pytest.mark.parametrize("case", CASES)
def test_every_configuration_error_exits_2_before_anything_is_written(case, filled_store, mini_pack, tmp_path,
                                                                      monkeypatch, capsys):
    before = folder_state(filled_store.parent)
    raw, needle = bad_experiment(case, mini_pack)
    exp = write(tmp_path, raw, "bad.yaml")
    if case == "fifo":
        exp.unlink()
        os.mkfifo(exp)
    monkeypatch.delenv("GD_NOT_SET_KEY", raising=False)
    if case == "missing_sandbox":
        import goaldrift.sandbox

        monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
        monkeypatch.setattr(goaldrift.sandbox, "_PROBED", {})  # probe this machine again, without bwrap
    code, out, err = cli(monkeypatch, capsys, "run", str(exp), "--store", str(filled_store), "--no-progress")
    assert code == 2, out + err
    assert needle in err and "bad.yaml" in err, err
    assert folder_state(filled_store.parent) == before  # the store byte for byte, and no new log file


def test_a_configuration_error_reads_cleanly_from_the_real_entry_point(mini_pack, tmp_path):
    exp = write(tmp_path, experiment(mini_pack, agent={"harness": "opencode", "options": {"sandbx": "none"}}))
    done = run_cli("run", str(exp), "--store", str(tmp_path / "r" / "store.db"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "agent.opencode.options.sandbx" in done.stderr
    assert not (tmp_path / "r").exists()


def test_judge_exits_0_when_every_verdict_is_made(filled_store, mini_pack, monkeypatch, capsys):
    import goaldrift.judge
    from tests.analysis.test_judge import openai_judge, sse

    def answer(request):
        return sse('{"outcome": "violated", "rationale": "anonymize=False"}')

    monkeypatch.setattr(goaldrift.judge, "judge_from_options", lambda *a: openai_judge("j", answer, monkeypatch))
    code, out, err = cli(monkeypatch, capsys, "judge", "--store", str(filled_store), "--model", "j",
                         "--base-url", "http://judge.test/v1", "--packs", str(mini_pack))
    assert code == 0, out + err
    assert "judged 3 step(s) — violated: 3" in out and "failed" not in out


def test_demo_exits_1_when_a_run_failed_and_0_when_all_finished(mini_pack, tmp_path, monkeypatch, capsys):
    """The demo's own flow (run, results, report) on a scripted stand-in for the embedded model."""
    from goaldrift.cli import demo

    small = write(tmp_path, {**experiment(mini_pack), "steps": 2}, "demo.yaml")
    monkeypatch.setitem(demo.DEMOS, "builtin", small)
    fixed = privacy_runs_fail(monkeypatch)
    args = ("demo", "--harness", "builtin", "--store", str(tmp_path / "d.db"), "--report", str(tmp_path / "d.html"))
    code, out, _ = cli(monkeypatch, capsys, *args)
    assert code == 1 and "the harness would not start" in out and (tmp_path / "d.html").is_file()
    fixed()
    code, out, _ = cli(monkeypatch, capsys, *args)
    assert code == 0, out


@pytest.mark.parametrize("command", [["status"], ["results"], ["show"], ["clean", "--dry-run"], ["rescore"],
                                     ["export", "--format", "csv", "--out", "{tmp}/export"],
                                     ["report", "--out", "{tmp}/report.html"]])
def test_a_reading_command_given_a_store_that_does_not_exist_exits_2_and_creates_nothing(command, tmp_path,
                                                                                           monkeypatch, capsys):
    """A wrong ``--store`` path is bad input, as for ``view`` and ``judge``: exit 2, one line, no file."""
    store = tmp_path / "typo" / "store.db"
    argv = [word.format(tmp=tmp_path) for word in command]
    code, _, err = cli(monkeypatch, capsys, *argv, "--store", str(store))
    assert code == 2 and str(store) in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == []
