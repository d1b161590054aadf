"""Deep checks of a scenario pack: what ``goaldrift scenarios validate`` runs after loading.

Loading proves the files are well-formed. These checks prove the pack works: every step's reference
for either side applies on top of the all-X and the all-Y history, the primary and secondary detectors
classify each reference as the side it was written for, the pressure comments and the file channels'
texts (docs, test_output) apply, and, with
``run_tests``, the template's own tests pass before and after the references, and every step's
acceptance tests (``goaldrift.completion``) pass on both sides' references and fail on the unchanged
template (a test that the untouched project passes cannot tell whether the agent did the work).

A pack's tests are code from the pack's author, so they run like goaldrift's other commands over
untrusted data (``goaldrift.confined``): under bubblewrap with only the scratch copy writable and
this Python's folders read-only, no network, an empty environment, and a time limit. Without
bubblewrap they are not run at all (a problem says so) rather than run on the host.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from goaldrift import confined, toolchains
from goaldrift.channels import FILE_CHANNELS
from goaldrift.completion import PYTEST, CheckCommands, Completion, check_commit
from goaldrift.conditions import Condition
from goaldrift.detect.diff import change_from_diff
from goaldrift.detect.run import behavioural, build_detectors
from goaldrift.edits import EditFailed, apply_ops
from goaldrift.errors import GoaldriftError
from goaldrift.sandbox import SAFE_PATH, python_dirs
from goaldrift.scenario import EditOp, Scenario, WriteOp, step_field
from goaldrift.workspace import Workspace

Problem = tuple[str, str, str]


TEST_SECONDS = 300.0


def _template_tests(repo: Path, commands: CheckCommands = PYTEST, timeout: float = TEST_SECONDS) -> str | None:
    """Run the repo's suite sandboxed (pytest, or the pack's suite command); None if it passes, else why not."""
    if not confined.bwrap_available():
        return ("not run: bubblewrap (bwrap) is needed to run a pack's tests confined; install it "
                "(apt-get install bubblewrap) or validate without --run-tests")
    try:
        tools = toolchains.mount(commands.toolchain)
    except GoaldriftError as exc:
        return f"not run: {exc}"
    env = {"PATH": toolchains.path_with(tools, f"{Path(sys.executable).parent}:{SAFE_PATH}"), "HOME": "/tmp",
           "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    argv = (["/bin/sh", "-c", commands.suite] if commands.suite
            else [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"])
    result = confined.run(argv, cwd=repo, timeout=timeout, sandbox=True,
                          readonly=[*(Path(d) for d in python_dirs()), *([tools.root] if tools else [])],
                          writable=[repo], env=env)
    if result.timed_out:
        return f"the template's tests did not finish within {timeout:.0f} s (killed)"
    output = (result.stdout + result.stderr).decode("utf-8", "replace")
    return None if result.returncode == 0 else output[-800:]


def _acceptance_on_template(scenario: Scenario, ws: Workspace) -> list[Problem]:
    """Every step's acceptance tests must fail on the unchanged template (checked on its first commit)."""
    problems: list[Problem] = []
    initial = ws.snapshot(0).commit
    for i in range(1, len(scenario.spec.steps) + 1):
        tests = scenario.acceptance(i)
        if tests is None:
            continue
        done = check_commit(ws.git_dir, initial, tests, suite=False, commands=scenario.test_commands)
        if done.status == Completion.COMPLETED:
            problems.append((str(tests.folder / tests.file), f"{step_field(i)}.acceptance",
                             "passes on the unchanged template, so it cannot tell whether the step was done"))
        elif done.status == Completion.NOT_RUN:
            problems.append((str(tests.folder / tests.file), f"{step_field(i)}.acceptance", done.output))
    return problems


def _first_failing_op(repo: Path, ops: list[WriteOp | EditOp]) -> tuple[int, EditFailed] | None:
    """Apply ``ops`` one by one; the index (from 0, as in the file) and error of the first that fails."""
    for k, op in enumerate(ops):
        try:
            apply_ops(repo, [op])
        except EditFailed as exc:
            return k, exc
    return None


def check_scenario(scenario: Scenario, *, run_tests: bool = False) -> list[Problem]:
    """Every problem found, as (file, field, reason); empty when the pack is sound."""
    problems: list[Problem] = []
    yaml_file = str(scenario.root / "scenario.yaml")
    detectors, primary_id = build_detectors(scenario.spec)
    with tempfile.TemporaryDirectory(prefix="goaldrift-check-") as tmp:
        for side in scenario.sides:
            other = scenario.other(side)
            texts = scenario.spec.channels.get(other)
            channels = ["comments", *(ch for ch in FILE_CHANNELS[1:] if texts is not None and getattr(texts, ch))]
            for cond in [Condition(side), *(Condition(side, other, channel=ch) for ch in channels)]:
                pressure = cond.pressure
                try:
                    ws = Workspace.create(Path(tmp) / f"{side}-{pressure}-{cond.channel}", scenario, cond)
                except EditFailed as exc:
                    key = "pressure" if cond.channel == "comments" else f"channels.{pressure}.{cond.channel}"
                    problems.append((yaml_file, f"{key}.{pressure}" if key == "pressure" else key, str(exc)))
                    continue
                if run_tests and pressure is None and side == scenario.sides[0]:
                    failure = _template_tests(ws.repo, scenario.test_commands)
                    if failure:
                        problems.append((str(scenario.template_dir), "tests", f"template tests fail:\n{failure}"))
                    problems.extend(_acceptance_on_template(scenario, ws))
                if pressure is not None:
                    continue  # pressure applied cleanly (Workspace.create raised otherwise)
                # Chain of this side; at each step also try the other side's reference on a scratch copy.
                for i in range(1, len(scenario.spec.steps) + 1):
                    for ref_side in scenario.sides:
                        ref_file = str(scenario.root / scenario.spec.steps[i - 1].reference[ref_side])
                        field = f"{step_field(i)}.reference.{ref_side}"
                        scratch = Path(tmp) / "scratch"
                        shutil.rmtree(scratch, ignore_errors=True)
                        shutil.copytree(ws.repo, scratch / "repo", symlinks=True)
                        shutil.copytree(ws.git_dir, scratch / "git")
                        probe = Workspace(scratch / "repo", scratch / "git", ignore=scenario.spec.snapshot.ignore)
                        if failed := _first_failing_op(probe.repo, scenario.reference(i, ref_side).ops):
                            after = f"after {side} steps 1..{i - 1}" if i > 1 else "to the template"
                            problems.append((ref_file, f"ops.{failed[0]}", f"does not apply {after}: {failed[1]}"))
                            continue
                        change = change_from_diff(probe.repo, probe.snapshot(i).diff)
                        for det in detectors:
                            try:
                                found = {d.side for d in det.decisions(change)}
                            except GoaldriftError as exc:  # a probe that could not run
                                problems.append((ref_file, field, f"detector {det.id}: {exc}"))
                                continue
                            # a probe may reach no verdict (the static primary then decides), never the wrong one
                            if found != {ref_side} and not (behavioural(det) and not found):
                                kind = "primary " if det.id == primary_id else ""
                                problems.append((ref_file, field,
                                                 f"{kind}detector {det.id} finds sides {sorted(found) or 'none'}, "
                                                 f"expected only {ref_side!r}"))
                    try:
                        apply_ops(ws.repo, scenario.reference(i, side).ops)
                    except EditFailed:
                        break  # already reported above
                    commit = ws.snapshot(i).commit
                    tests = scenario.acceptance(i)
                    if run_tests and tests is not None:
                        done = check_commit(ws.git_dir, commit, tests, suite=False,
                                            commands=scenario.test_commands)
                        if done.status != Completion.COMPLETED:
                            why = (f"fails on the {side} reference after {side} steps 1..{i - 1} "
                                   f"({done.status}):\n{done.output[-800:]}")
                            problems.append((str(tests.folder / tests.file), f"{step_field(i)}.acceptance", why))
                if run_tests and pressure is None:
                    failure = _template_tests(ws.repo, scenario.test_commands)
                    if failure:
                        problems.append((yaml_file, f"references.{side}",
                                         f"template tests fail after all {side} references:\n{failure}"))
    # Every reference is checked after both sides' histories: a problem that does not depend on the
    # history (a detector that misjudges it) is found twice, and reported once.
    return list(dict.fromkeys(problems))

