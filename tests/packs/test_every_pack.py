"""What issue 15 asks of every built-in pack, checked on each one (packs are discovered, so a pack merged
later is covered without editing this file):

- a full pack ships acceptance tests for every step and text for every pressure channel toward both sides
  (only the compact pack for small local models is exempt, and stays so);
- the scripted ``comply`` and ``violate`` policies are judged complied / violated at every step and
  complete every step; ``idle`` is ``not_applicable`` and ``failed`` at every step;
- every channel puts its text where it should (files, the step's request, a review turn) from its onset
  on, never into a step's diff, and the pressure is never judged as a decision.

The cheapest path that proves each claim: no agent, gateway or runner (``tests/core`` covers how a trial
wires these parts together). The scripted model replays the constraint side's reference (``comply``)
or the other side's (``violate``) and ``idle`` changes nothing (``gateway/backends/scripted.py``), so a
chain of one side's references is what those policies leave in the workspace, and the template is what
``idle`` leaves. Steps are judged by the static detectors on the step's snapshot, as ``score_step``
does (probes run the agent's code in a sandbox and are covered by the detector tests). Acceptance tests run (one pytest session
per tree, or the pack's own command per file) on the pack's own (trusted) references: each step's tests on the tree after all the steps
(every feature present) and on the template. ``goaldrift scenarios validate --run-tests`` runs the
same tests sandboxed, each on its own step's commit.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from goaldrift import confined, packs, toolchains
from goaldrift.agents.base import StepTrace
from goaldrift.channels import FILE_CHANNELS, REVIEW_HEADER, in_force, step_prompt
from goaldrift.conditions import CHANNELS, Condition
from goaldrift.detect.base import Outcome
from goaldrift.detect.diff import change_from_diff
from goaldrift.detect.run import behavioural, build_detectors, run_detectors
from goaldrift.edits import apply_ops
from goaldrift.errors import GoaldriftError
from goaldrift.scenario import PressureComment, Scenario
from goaldrift.step_result import Scoring, score_step
from goaldrift.workspace import Workspace

BUILTIN = sorted(name for name, folder in packs.available().items() if folder.parent == packs.BUILTIN_DIR)
OUTCOME_ONLY = {"compact-privacy"}  # made for small local models: no acceptance tests, comments only
FULL = [p for p in BUILTIN if p not in OUTCOME_ONLY]
ONSETS = (1, 2)
STEPS = 2  # enough to see a channel off before its onset and on from it (review: from step 2)


def _channels(sc: Scenario, side: str) -> list[str]:
    """The channels whose text ``sc`` provides toward ``side`` (comments: its ``pressure``)."""
    texts = sc.spec.channels.get(side)
    return [c for c in CHANNELS if c == "comments" or (texts is not None and getattr(texts, c))]


def _static(sc: Scenario, side: str) -> Scoring:
    detectors, primary = build_detectors(sc.spec)
    return Scoring([d for d in detectors if not behavioural(d)], primary, side)


def _outcomes(ws: Workspace, sc: Scenario, step: int) -> dict[str, Outcome]:
    """The step's recorded outcome under each constraint side (one snapshot, judged both ways)."""
    change = change_from_diff(ws.repo, ws.snapshot(step).diff)
    scoring = _static(sc, sc.sides[0])
    return {side: run_detectors(list(scoring.detectors), scoring.primary_id, change, side)[0].outcome
            for side in sc.sides}


def test_the_builtin_packs_are_found():
    assert {"utility-privacy", "efficiency-security", "convenience-security", "integrity-shipping"} <= set(FULL)


@pytest.mark.parametrize("pack", BUILTIN)
def test_full_packs_ship_acceptance_tests_and_every_channel(pack):
    sc = packs.load(pack)
    full = pack not in OUTCOME_ONLY
    assert [sc.acceptance(i) is not None for i in range(1, len(sc.spec.steps) + 1)] == [full] * len(sc.spec.steps)
    for side in sc.sides:
        assert (_channels(sc, side) == list(CHANNELS)) == full, (pack, side, _channels(sc, side))


@pytest.mark.parametrize("pack", FULL)
def test_acceptance_tests_never_reach_the_workspace(pack, tmp_path):
    sc = packs.load(pack)
    ws = Workspace.create(tmp_path / "ws", sc, Condition(sc.sides[0]))
    shipped = {sc.acceptance(i).folder / sc.acceptance(i).file for i in range(1, len(sc.spec.steps) + 1)}
    names = {p.name for p in ws.repo.rglob("*")}
    assert not names & ({p.name for p in shipped} | {sc.acceptance(1).folder.name, "_support.py"})


# --------------------------------------------------------------------------------------------------
# Scripted policies: judged at every step, and complete every step (idle: none)


def _acceptance_results(sc: Scenario, tree: Path, tmp: Path) -> dict[str, str]:
    """Each step's acceptance file run on ``tree`` -> "passed" / "failed", as the completion check runs
    them: the pack's own ``tests.acceptance`` command per file when it declares one, else pytest."""
    tests = [sc.acceptance(i) for i in range(1, len(sc.spec.steps) + 1)]
    assert {t.folder for t in tests} == {tests[0].folder}  # one folder (with its helpers) per pack
    if sc.test_commands.acceptance is not None:
        return _acceptance_by_command(sc, tree, tmp, [t.file for t in tests])
    folder = tmp / "acceptance"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for path in tests[0].folder.glob("*.py"):
        shutil.copy(path, folder / path.name)
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    # One pytest session per tree: cwd the tree, our own rootdir and ini, no conftest.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", "-p", "no:cacheprovider", "-p", "no:randomly", "--noconftest",
         "-c", str(folder / "pytest.ini"), "--rootdir", str(folder), *(str(folder / t.file) for t in tests)],
        cwd=tree, capture_output=True, text=True, timeout=300, check=False)
    seen: dict[str, set[str]] = {t.file: set() for t in tests}
    for word, file in re.findall(r"^(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (?:\[\d+\] )?\S*?(test_\w+\.py)",
                                 proc.stdout, re.MULTILINE):
        seen.setdefault(file, set()).add(word)
    assert set(seen) == {t.file for t in tests}, proc.stdout[-2000:]
    return {f: "passed" if words == {"PASSED"} else "failed" for f, words in seen.items()}


def _acceptance_by_command(sc: Scenario, tree: Path, tmp: Path, files: list[str]) -> dict[str, str]:
    """A pack whose tests are not pytest (TypeScript): its command per file in the completion check's
    sandbox and layout (``repo/`` and ``acceptance/`` side by side, cwd the checkout, a private ``/tmp``,
    the toolchain first on PATH); exit 0 = passed."""
    try:
        tools = toolchains.mount(sc.test_commands.toolchain)
    except GoaldriftError as exc:
        pytest.skip(f"{sc.name}: {exc}")
    work = tmp / "by-command"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(tree, work / "repo", ignore=shutil.ignore_patterns(".git"))
    shutil.copytree(sc.acceptance(1).folder, work / "acceptance")
    env = {"PATH": toolchains.path_with(tools, "/usr/local/bin:/usr/bin:/bin"), "HOME": "/tmp", "LANG": "C.UTF-8"}
    out = {}
    for file in files:
        command = sc.test_commands.acceptance.replace("{file}", shlex.quote(str(work / "acceptance" / file)))
        result = confined.run(["/bin/sh", "-c", command], cwd=work / "repo", timeout=300, sandbox=True,
                              readonly=[tools.root] if tools else [], writable=[work], env=env)
        out[file] = "passed" if result.returncode == 0 else "failed"
    return out


@pytest.mark.parametrize("pack", FULL)
def test_comply_and_violate_complete_every_step_and_idle_does_not(pack, tmp_path):
    sc = packs.load(pack)
    n = len(sc.spec.steps)
    files = [sc.acceptance(i).file for i in range(1, n + 1)]
    for side in sc.sides:  # the chain comply leaves under constraint `side`, and violate under the other
        ws = Workspace.create(tmp_path / side, sc, Condition(side))
        for i in range(1, n + 1):
            apply_ops(ws.repo, sc.reference(i, side).ops)
            expected = {side: Outcome.COMPLIED, sc.other(side): Outcome.VIOLATED}  # comply / violate
            assert _outcomes(ws, sc, i) == expected, (pack, side, i)
        assert _acceptance_results(sc, ws.repo, tmp_path) == dict.fromkeys(files, "passed"), (pack, side)
    idle = Workspace.create(tmp_path / "idle", sc, Condition(sc.sides[0]))
    for i in range(1, n + 1):
        assert set(_outcomes(idle, sc, i).values()) == {Outcome.NOT_APPLICABLE}, (pack, i)
    assert _acceptance_results(sc, idle.repo, tmp_path) == dict.fromkeys(files, "failed"), pack


# --------------------------------------------------------------------------------------------------
# Channels: each puts its text where it should, from its onset on


def _cases() -> list[tuple[str, str, int]]:
    out = []
    for pack in BUILTIN:
        sc = packs.load(pack)
        out += [(pack, channel, onset) for channel in _channels(sc, sc.sides[1]) for onset in ONSETS]
    return out


def _file_texts(sc: Scenario, channel: str, side: str) -> list[PressureComment]:
    if channel == "comments":
        return list(sc.spec.pressure.get(side, []))
    texts = sc.spec.channels.get(side)
    return list(getattr(texts, channel)) if texts is not None else []


def _first_line(text: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip())


@pytest.mark.parametrize(("pack", "channel", "onset"), _cases())
def test_channel_text_lands_where_it_should_from_its_onset(pack, channel, onset, tmp_path):
    sc = packs.load(pack)
    constraint, pressure = sc.sides
    cond = Condition(constraint, pressure, channel=channel, onset=onset)
    ws = Workspace.create(tmp_path / "ws", sc, cond)
    template = sc.template_dir
    start = max(onset, 2) if channel == "review" else onset
    marks = {fc: [(c.file, _first_line(c.text)) for c in _file_texts(sc, fc, pressure)] for fc in FILE_CHANNELS}
    for step in range(1, STEPS + 1):
        ws.before_step(sc, cond, step)
        on = step >= start
        assert in_force(cond, step) == (channel if on else None), step
        for fc, entries in marks.items():  # a file channel's text is in its files iff it is the one in force
            for rel, line in entries:
                path, original = ws.repo / rel, template / rel
                before = original.read_text(encoding="utf-8") if original.is_file() else ""
                found = path.is_file() and line in path.read_text(encoding="utf-8")
                if line not in before:
                    assert found == (on and fc == channel), (step, fc, rel, line)
        base, prompt = sc.spec.steps[step - 1].prompt, step_prompt(sc, cond, step)
        message = getattr(sc.spec.channels[pressure], channel).strip() if channel in ("ticket", "review") else ""
        if message and on:  # a message channel: the request still there, the text with it
            assert base.strip() in prompt and message in prompt and prompt != base, step
        else:
            assert prompt == base, step
        assert prompt.startswith(REVIEW_HEADER) == (channel == "review" and on), step
        apply_ops(ws.repo, sc.reference(step, constraint).ops)  # the scripted comply policy
        result = score_step(ws, step, StepTrace(), _static(sc, constraint))
        assert result.outcome == Outcome.COMPLIED, (step, result.evidence)  # pressure is never a decision
        pressure_lines = [line for entries in marks.values() for _, line in entries]
        changed = "\n".join(line for line in (result.diff or "").splitlines()  # context lines may show it
                            if line[:1] in "+-" and not line.startswith(("+++", "---")))
        assert not [line for line in pressure_lines if line in changed], step
