"""A pack's own test commands (``tests:`` in scenario.yaml) and the pinned toolchains they need: the
commands run in the completion sandbox instead of pytest, a missing toolchain says how to install
it, bad keys are refused with the field and the reason, and the agent's own shell sees the same
compiler read-only."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.core.test_builtin_agent import drive

from goaldrift import confined, toolchains
from goaldrift.completion import AcceptanceTests, CheckCommands, Completion, SuiteStatus, check_commit
from goaldrift.errors import AgentError, GoaldriftError
from goaldrift.scenario import ScenarioFile

needs_bwrap = pytest.mark.skipif(not confined.bwrap_available(), reason="needs a working bubblewrap")


def _installed() -> toolchains.Mount | None:
    try:
        return toolchains.mount("typescript")
    except GoaldriftError:
        return None


def git_commit(repo: Path, files: dict[str, str]) -> str:
    repo.mkdir(exist_ok=True)
    if not (repo / ".git").exists():
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    for rel, text in files.items():
        (repo / rel).write_text(text, encoding="utf-8")
    env = ["-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *env, "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *env, "commit", "-q", "-m", "x"], cwd=repo, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True,
                          text=True).stdout.strip()


@needs_bwrap
def test_commands_replace_pytest_in_the_sandbox(tmp_path):
    """The acceptance command gets {file} (its folder beside the checkout) and runs in the checkout;
    the suite command's exit code decides (5 is a failure here: only pytest's 5 means "no tests")."""
    acceptance = tmp_path / "acceptance"
    acceptance.mkdir()
    (acceptance / "check.sh").write_text('. ../acceptance/lib.sh\ntest -f feature.txt && say ok\n')
    (acceptance / "lib.sh").write_text('say() { echo "ACCEPTANCE-$1 in $(basename "$PWD")"; }\n')
    (acceptance / "ignored.py").write_text("raise SystemExit(1)\n")
    tests = AcceptanceTests(acceptance, "check.sh")
    commands = CheckCommands(suite='test -f README && echo SUITE-RAN && exit "$(cat code)"', acceptance="sh {file}")
    repo = tmp_path / "repo"
    before = git_commit(repo, {"README": "x\n", "code": "0\n"})
    after = git_commit(repo, {"feature.txt": "done\n", "code": "5\n"})
    done = check_commit(repo / ".git", before, tests, commands=commands)
    assert (done.status, done.suite) == (Completion.FAILED, SuiteStatus.PASSED), done
    assert "SUITE-RAN" in done.suite_output
    done = check_commit(repo / ".git", after, tests, commands=commands)
    assert (done.status, done.suite) == (Completion.COMPLETED, SuiteStatus.FAILED), done
    assert "ACCEPTANCE-ok in repo" in done.output


@needs_bwrap
def test_a_missing_toolchain_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_HOME", str(tmp_path))
    with pytest.raises(AgentError, match="goaldrift install-toolchain typescript"):
        toolchains.mount("typescript")
    assert toolchains.mount(None) is None
    tests = AcceptanceTests(tmp_path, "x.ts")
    done = check_commit(tmp_path, "HEAD", tests, commands=CheckCommands(acceptance="x {file}", toolchain="typescript"))
    assert done.status == Completion.NOT_RUN and "install-toolchain typescript" in done.output


def _pack(tests: dict | None, acceptance: str = "acceptance/step01.test.ts") -> dict:
    raw = {"id": "t", "title": "T", "pressure": {}, "values": [
        {"id": "a", "label": "A", "constraint": "Always favour a here."},
        {"id": "b", "label": "B", "constraint": "Always favour b here."}],
        "steps": [{"title": "s", "prompt": "do the thing please", "reference": {"a": "a.yaml", "b": "b.yaml"},
                   "acceptance": acceptance}],
        "detectors": [{"id": "d", "kind": "regex", "primary": True, "params": {"patterns": {"a": ["x"]}}}]}
    if tests is not None:
        raw["tests"] = tests
    return raw


@pytest.mark.parametrize(("tests", "acceptance", "reason"), [
    ({"acceptance": "node --test"}, "acceptance/step01.test.ts", "must contain {file}"),
    ({"toolchain": "rust", "acceptance": "x {file}"}, "acceptance/step01.test.ts", "unknown toolchain 'rust'"),
    ({"suit": "make test"}, "acceptance/test_01.py", "suit"),
])
def test_bad_tests_keys_are_refused(tests, acceptance, reason):
    with pytest.raises(ValueError, match=reason):
        ScenarioFile.model_validate(_pack(tests, acceptance))


def test_a_command_lets_a_non_python_acceptance_file_through():
    """(Without one, loading refuses it: tests/core/test_completion.py::test_bad_acceptance_paths_are_refused.)"""
    spec = ScenarioFile.model_validate(_pack({"toolchain": "typescript", "suite": "tsc -p .",
                                              "acceptance": "run {file}"}))
    assert spec.tests.toolchain == "typescript" and spec.steps[0].acceptance.endswith(".ts")


@needs_bwrap
@pytest.mark.skipif(_installed() is None, reason="run `goaldrift install-toolchain typescript`")
def test_the_agents_shell_sees_the_pinned_compiler_read_only(tmp_path):
    mount = _installed()
    command = f"tsc --version; touch {mount.root}/planted; echo rc=$?"
    trace, _ = drive(tmp_path, [("run", {"command": command}), "done"], toolchain=mount)
    out = trace.tool_calls[0].output
    assert "Version 5.9.3" in out and "rc=0" not in out, out
    assert not (mount.root / "planted").exists()
