"""The built-in ``speed-typesafety`` pack (TypeScript): it loads, its template builds and passes its
own tests with the pinned TypeScript, its references apply in any order of sides and keep the suite
green, its detectors classify every reference as the side it was written for, the acceptance tests
tell the template from either reference, and the scripted policies are classified (and complete) at
the right steps."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess

import pytest

from goaldrift import confined, packs, toolchains
from goaldrift.completion import Completion, SuiteStatus, check_commit
from goaldrift.conditions import Condition
from goaldrift.detect.base import Outcome
from goaldrift.detect.diff import change_from_diff
from goaldrift.detect.run import build_detectors, run_detectors
from goaldrift.edits import apply_ops, apply_pressure
from goaldrift.errors import GoaldriftError
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment
from goaldrift.scenario import Scenario
from goaldrift.workspace import Workspace

SIDES = ("speed", "typesafety")
N_STEPS = 12
MODULES = ["refunds", "shipments", "stock", "reviews", "payments", "prices", "addresses", "subscriptions",
           "loyalty", "returns", "support", "parcels"]
CHAINS = {
    "all-speed": ["speed"] * N_STEPS,
    "all-typesafety": ["typesafety"] * N_STEPS,
    "alternating": [SIDES[i % 2] for i in range(N_STEPS)],
}


def _toolchain() -> toolchains.Mount | None:
    try:
        return toolchains.mount("typescript")
    except GoaldriftError:
        return None


needs_tsc = pytest.mark.skipif(_toolchain() is None, reason="run `goaldrift install-toolchain typescript`")
needs_bwrap = pytest.mark.skipif(not confined.bwrap_available(), reason="needs a working bubblewrap")


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return packs.load("speed-typesafety")


@pytest.fixture(scope="module")
def detectors(scenario):
    return build_detectors(scenario.spec)


def run_suite(scenario: Scenario, repo) -> subprocess.CompletedProcess:
    """The pack's suite command on the host (the pack is ours), with the pinned compiler on PATH."""
    env = {"PATH": toolchains.path_with(_toolchain(), os.environ.get("PATH", "/usr/bin:/bin")), "HOME": str(repo)}
    return subprocess.run(["/bin/sh", "-c", scenario.spec.tests.suite], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def passed(proc: subprocess.CompletedProcess) -> int:
    return int(re.search(r"^# pass (\d+)", proc.stdout, re.MULTILINE).group(1))


# --------------------------------------------------------------------------------------------------
# The pack as data


def test_pack_loads(scenario):
    assert scenario.id == "speed-typesafety" and scenario.sides == SIDES
    assert scenario.expected_stronger == "typesafety"
    assert len(scenario.spec.steps) == N_STEPS and len(scenario.references) == 2 * N_STEPS
    assert {d.id: d.kind for d in scenario.spec.detectors} == {"boundary-ts": "ts.trust_boundary",
                                                               "boundary-regex": "regex"}
    commands = scenario.test_commands
    assert commands.toolchain == "typescript" and "node --test" in commands.suite and "{file}" in commands.acceptance
    for side in SIDES:
        assert len(scenario.spec.pressure[side]) == 4
        texts = scenario.spec.channels[side]
        assert texts.docs and texts.ticket and texts.review and texts.test_output
    assert all(scenario.acceptance(i).file.endswith(".test.ts") for i in range(1, N_STEPS + 1))


def test_prompts_leave_the_decision_to_the_agent(scenario):
    banned = re.compile(r"\bcast|\bany\b|validat|\bcheck|unknown|guard|typeof|trust|\bsafe|gateway|contract",
                        re.IGNORECASE)
    for i, step in enumerate(scenario.spec.steps, 1):
        assert not banned.search(step.prompt + step.title), (i, banned.search(step.prompt + step.title))
        assert f"src/{MODULES[i - 1]}.ts" in step.prompt and "node --test" in step.prompt
    notes = scenario.spec.agents_md  # describes both styles of the template, recommends neither
    assert "`src/orders.ts` uses them" in notes and "casts" in notes and "must" not in notes.split("## Conventions")[0]


def test_references_share_the_feature_and_differ_in_the_parser(scenario):
    for i, module in enumerate(MODULES, 1):
        speed, safe = (scenario.reference(i, s).ops for s in SIDES)
        assert [op.path for op in speed] == [op.path for op in safe] == [f"src/{module}.ts", "src/index.ts"]
        assert speed[1] == safe[1]  # the same export line
        feature = safe[0].content.split("\n\nexport function ")[-1]  # the helper that uses the event
        assert speed[0].content.endswith(feature)
        assert "validate" not in speed[0].content and "validate" in safe[0].content


# --------------------------------------------------------------------------------------------------
# The template and the references as code (with the pinned compiler)


@needs_tsc
@pytest.mark.parametrize("chain", ["all-speed", "all-typesafety"])
def test_chain_builds_and_passes_with_the_other_sides_pressure(scenario, tmp_path, chain):
    """Every reference of one side, on a workspace carrying the other side's comments and its
    test_output notice (so those compile too): the suite passes, the notice is printed."""
    side = CHAINS[chain][0]
    other = scenario.other(side)
    ws = Workspace.create(tmp_path / "ws", scenario, Condition(side, other, channel="test_output"))
    apply_pressure(ws.repo, scenario.spec.pressure[other])  # the comments channel too (tsconfig included)
    template = run_suite(scenario, ws.repo)
    assert template.returncode == 0 and passed(template) == 8, template.stdout[-2000:] + template.stderr[-2000:]
    assert ("SEC-12" if other == "typesafety" else "PLAT-7") in template.stdout
    for i, ref_side in enumerate(CHAINS[chain], 1):
        apply_ops(ws.repo, scenario.reference(i, ref_side).ops)
    proc = run_suite(scenario, ws.repo)
    assert proc.returncode == 0 and passed(proc) == 8, proc.stdout[-2000:] + proc.stderr[-2000:]


@needs_tsc
@needs_bwrap
def test_acceptance_tells_the_template_from_both_references(scenario, tmp_path):
    """Step 1's hidden test fails on the template (saying what is missing) and passes on either side's
    reference, run by the pack's command in the sandbox; an agent's tsconfig does not change it."""
    ws = Workspace.create(tmp_path / "ws", scenario, Condition("typesafety"))
    tests, commands = scenario.acceptance(1), scenario.test_commands
    before = check_commit(ws.git_dir, ws.snapshot(0).commit, tests, suite=False, commands=commands)
    assert before.status == Completion.FAILED and "parseRefundRequested" in before.output, before.output
    apply_ops(ws.repo, scenario.reference(1, "speed").ops)
    done = check_commit(ws.git_dir, ws.snapshot(1).commit, tests, suite=False, commands=commands)
    assert done.status == Completion.COMPLETED, done.output
    apply_ops(ws.repo, scenario.reference(1, "typesafety").ops)
    (ws.repo / "tsconfig.json").write_text('{"compilerOptions": {"noEmit": true}}\n', encoding="utf-8")
    done = check_commit(ws.git_dir, ws.snapshot(2).commit, tests, commands=commands)
    assert done.status == Completion.COMPLETED, done.output
    assert done.suite == SuiteStatus.FAILED  # the agent's tsconfig broke the build; the acceptance run did not care


@needs_tsc
@needs_bwrap
def test_a_step_that_does_not_type_check_is_not_completed(scenario, tmp_path):
    """tsc emits JavaScript despite type errors, so the hidden tests alone would pass; the pack's
    acceptance command runs them only after tsc succeeded: a step must type-check to be completed."""
    ws = Workspace.create(tmp_path / "ws", scenario, Condition("typesafety"))
    apply_ops(ws.repo, scenario.reference(1, "typesafety").ops)
    with (ws.repo / "src" / "index.ts").open("a", encoding="utf-8") as f:
        f.write('\nexport const refundCount: number = "three";\n')  # harmless at runtime, wrong in type
    done = check_commit(ws.git_dir, ws.snapshot(1).commit, scenario.acceptance(1), suite=False,
                        commands=scenario.test_commands)
    assert done.status == Completion.FAILED, done.output
    assert "TS2322" in done.output and "# pass" not in done.output, done.output


def test_the_build_output_stays_out_of_step_snapshots_and_is_recorded(scenario, tmp_path):
    """The pack lists dist/ in snapshot.ignore: a build's output (here written as the build would) is
    in no step's commit or diff, each step's events say it was left out, and code beside it is kept."""
    assert scenario.spec.snapshot.ignore == ("dist/",)
    ws = Workspace.create(tmp_path / "ws", scenario, Condition("typesafety"))
    (ws.repo / "dist" / "src").mkdir(parents=True)
    (ws.repo / "dist" / "src" / "index.js").write_text("exports.x = JSON.parse(raw);\n", encoding="utf-8")
    (ws.repo / "src" / "extra.ts").write_text("export const extra = 1;\n", encoding="utf-8")
    snap = ws.snapshot(1)
    assert "dist/" not in snap.diff and "src/extra.ts" in snap.diff and snap.files_changed == 1
    assert snap.events == ("dist/ was left out: the pack lists it in snapshot.ignore (build output)",)
    committed = ws.git("ls-tree", "-r", "--name-only", snap.commit).split()
    assert "src/extra.ts" in committed and not any(name.startswith("dist/") for name in committed)


# --------------------------------------------------------------------------------------------------
# Detectors on the references
# --------------------------------------------------------------------------------------------------
# Detectors on the references


@pytest.mark.parametrize("chain", list(CHAINS))
def test_detectors_classify_every_reference(scenario, detectors, tmp_path, chain):
    dets, primary_id = detectors
    ws = Workspace.create(tmp_path / "ws", scenario, Condition("typesafety", "speed"))
    for i, side in enumerate(CHAINS[chain], 1):
        apply_ops(ws.repo, scenario.reference(i, side).ops)
        change = change_from_diff(ws.repo, ws.snapshot(i).diff)
        for det in dets:
            found = det.decisions(change)
            assert {d.side for d in found} == {side}, (i, det.id, found)
            if det.id == primary_id:
                assert {d.file for d in found} == {f"src/{MODULES[i - 1]}.ts"}, (i, found)
        for constraint in SIDES:
            _, results = run_detectors(dets, primary_id, change, constraint)
            expected = Outcome.COMPLIED if constraint == side else Outcome.VIOLATED
            assert [r.outcome for r in results] == [expected] * len(dets), (i, constraint, results)


def test_casts_in_the_agents_own_tests_are_not_decisions(scenario, detectors, tmp_path):
    """A test that feeds a bad body through `as any` is not a parser decision (tests are excluded)."""
    dets, primary_id = detectors
    ws = Workspace.create(tmp_path / "ws", scenario, Condition("typesafety"))
    apply_ops(ws.repo, scenario.reference(1, "typesafety").ops)
    (ws.repo / "test" / "refunds.test.ts").write_text(
        'import { test } from "node:test";\nimport { parseRefundRequested } from "../src/refunds";\n'
        'test("bad", () => { parseRefundRequested(JSON.stringify({ amountCents: "1" } as any)); });\n',
        encoding="utf-8")
    change = change_from_diff(ws.repo, ws.snapshot(1).diff)
    primary, _ = run_detectors(dets, primary_id, change, "typesafety")
    assert primary.outcome == Outcome.COMPLIED, primary


# --------------------------------------------------------------------------------------------------
# The scripted model through the whole pipeline


POLICIES = {"comply": lambda s: False, "violate_from:5": lambda s: s >= 5}


def test_full_2x2_classifies_every_policy_at_the_right_steps(tmp_path):
    models = [{"id": p.replace(":", "-"), "backend": "scripted", "policy": p} for p in POLICIES]
    raw = {"name": "t", "models": models, "scenarios": ["speed-typesafety"], "repeats": 1, "completion": False,
           "agent": {"harness": "builtin", "limits": {"wall_time_s": 60}}, "concurrency": 2}
    summary = run_experiment(experiment_from_dict(raw), tmp_path / "store.db", progress=False)
    assert summary.failed == 0 and summary.finished == len(POLICIES) * 4
    db = sqlite3.connect(tmp_path / "store.db")
    rows = db.execute("SELECT model_id, condition, step, outcome FROM step_results ORDER BY model_id, condition, "
                      "step").fetchall()
    db.close()
    got: dict[tuple[str, str], list[str]] = {}
    for model, condition, _step, outcome in rows:
        got.setdefault((model, condition), []).append(outcome)
    assert {c for _, c in got} == {"speed", "speed->typesafety", "typesafety", "typesafety->speed"}
    for (model, condition), steps in got.items():
        policy = next(p for p in POLICIES if p.replace(":", "-") == model)
        assert steps == ["violated" if POLICIES[policy](s) else "complied" for s in range(1, 13)], (model, condition)


@pytest.mark.completion
@needs_tsc
@needs_bwrap
def test_scripted_policies_complete_and_idle_fails(tmp_path):
    """comply and violate replay the references, which pass the TypeScript acceptance tests and the
    suite; idle changes nothing: not_applicable and failed (the template's suite still passes)."""
    raw = {"name": "completion", "scenarios": ["speed-typesafety"], "conditions": ["typesafety"], "steps": 1,
           "models": [{"id": p, "backend": "scripted", "policy": p} for p in ("comply", "violate", "idle")],
           "agent": {"harness": "builtin", "limits": {"wall_time_s": 60}}, "concurrency": 1}
    summary = run_experiment(experiment_from_dict(raw), tmp_path / "store.db", progress=False)
    assert summary.failed == 0
    db = sqlite3.connect(tmp_path / "store.db")
    rows = db.execute("SELECT model_id, step, outcome, completion, suite FROM step_results").fetchall()
    db.close()
    got = {(m, s): (o, c, su) for m, s, o, c, su in rows}
    assert got[("comply", 1)] == ("complied", "completed", "passed")
    assert got[("violate", 1)] == ("violated", "completed", "passed")
    assert got[("idle", 1)] == ("not_applicable", "failed", "passed")
