"""Hung models, failing models, a server killed mid-step, goaldrift itself killed, concurrent runs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from goaldrift.agents.base import AgentLimits
from goaldrift.gateway.app import Gateway

from .conftest import Misbehaving, Run, needs_opencode, scripted

pytestmark = [pytest.mark.opencode, needs_opencode]
WALL_S = 15  # per step: long enough for a scripted step on a loaded 2-core machine


def test_hung_model_hits_the_wall_clock_and_the_run_continues(tmp_path: Path, scenario, run_async):
    async def main():
        async with Gateway() as gw:
            backend = Misbehaving(scripted(), hang={1})
            run = Run(gw, backend, tmp_path / "run", scenario, limits=AgentLimits(wall_time_s=WALL_S))
            await run.agent.start(run.session)
            try:
                hung = await run.step(1, scenario.spec.steps[0].prompt)
                ok = await run.step(2, scenario.spec.steps[1].prompt)
            finally:
                await run.agent.stop()
            return hung, ok

    hung, ok = run_async(main())
    # The model never answers, so only the wall clock can have ended the step (how soon after the
    # limit is a speed, which a loaded machine stretches: not asserted here).
    assert hung.limit_hit == "wall_time" and hung.errors
    # The run continues in the same session. Step 2 has the same limit, which a heavily loaded machine
    # may also reach (OpenCode not even at its first model call): a legal outcome, not a failure.
    assert ok.raw["session_id"] == hung.raw["session_id"]
    assert ok.limit_hit == "wall_time" or (not ok.errors and ok.tool_calls), (ok.limit_hit, ok.errors)


def test_failing_model_is_bounded_and_recorded(tmp_path: Path, scenario, run_async):
    async def main():
        async with Gateway() as gw:
            backend = Misbehaving(scripted(), fail={1})
            run = Run(gw, backend, tmp_path / "run", scenario, limits=AgentLimits(wall_time_s=60),
                      options={"model_retry_limit": 1})
            await run.agent.start(run.session)
            try:
                failed = await run.step(1, scenario.spec.steps[0].prompt)
                ok = await run.step(2, scenario.spec.steps[1].prompt)
            finally:
                await run.agent.stop()
            return backend, failed, ok

    backend, failed, ok = run_async(main())
    # bounded: the step gave up on the failing model by itself, not at its 60 s wall clock
    assert failed.errors and failed.limit_hit is None
    assert any("502" in e or "injected failure" in e or "retries" in e for e in failed.errors), failed.errors
    assert backend.calls.count(1) >= 1
    assert not failed.tool_calls
    assert not ok.errors and ok.tool_calls


def test_server_killed_mid_step_is_restarted_on_the_same_session(tmp_path: Path, scenario, run_async):
    async def main():
        async with Gateway() as gw:
            backend = Misbehaving(scripted(), delay={2: 3.0})
            run = Run(gw, backend, tmp_path / "run", scenario, limits=AgentLimits(wall_time_s=60))
            await run.agent.start(run.session)
            try:
                first = await run.step(1, scenario.spec.steps[0].prompt)
                pid = run.agent.driver.proc.pid

                async def kill_soon():
                    while 2 not in backend.calls:
                        await asyncio.sleep(0.05)
                    os.killpg(pid, signal.SIGKILL)

                killer = asyncio.create_task(kill_soon())
                killed = await run.step(2, scenario.spec.steps[1].prompt)
                await killer
                after = await run.step(3, scenario.spec.steps[2].prompt)
                new_pid = run.agent.driver.proc.pid
            finally:
                await run.agent.stop()
            return first, killed, after, pid, new_pid

    first, killed, after, pid, new_pid = run_async(main())
    # the step ended on the server's exit, not at its 60 s wall clock
    assert any("exited" in e for e in killed.errors) and killed.limit_hit is None, (killed.errors, killed.limit_hit)
    assert new_pid != pid and not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert after.raw.get("server_restarts") == 1 and after.tool_calls != []
    assert after.raw["session_id"] == first.raw["session_id"]
    assert after.context_tokens > first.context_tokens, "the restarted server continued the same context"


def test_opencode_dies_with_goaldrift(tmp_path: Path, scenario):
    """SIGKILL the Python process that drives OpenCode: OpenCode and its sandbox go with it."""
    script = textwrap.dedent(f"""
        import asyncio, sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
        from pathlib import Path
        from goaldrift.gateway.app import Gateway
        from tests.opencode.conftest import Run, scripted, scenario as _s
        from goaldrift.scenario import load_scenario
        async def main():
            sc = load_scenario(Path({str(scenario.root)!r}))
            async with Gateway() as gw:
                run = Run(gw, scripted(), Path({str(tmp_path / 'run')!r}), sc)
                await run.agent.start(run.session)
                print(run.agent.driver.proc.pid, flush=True)
                await asyncio.sleep(600)
        asyncio.run(main())
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip().isdigit(), line
        server = psutil.Process(int(line))
        tree = [server, *server.children(recursive=True)]
        assert len(tree) >= 1
    finally:
        child.kill()
        child.wait()
    _gone, alive = psutil.wait_procs(tree, timeout=10)
    assert not alive, [(p.pid, p.cmdline()) for p in alive]


def test_concurrent_runs_do_not_share_state(tmp_path: Path, scenario, run_async):
    calls = []

    async def main():
        async with Gateway(recorder=calls.append) as gw:
            a = Run(gw, scripted(), tmp_path / "a", scenario, side=scenario.sides[0], attempt_id=1)
            b = Run(gw, scripted(), tmp_path / "b", scenario, side=scenario.sides[1], attempt_id=2)
            await asyncio.gather(a.agent.start(a.session), b.agent.start(b.session))
            try:
                traces = []
                for i in (1, 2):
                    traces.append(await asyncio.gather(a.step(i, scenario.spec.steps[i - 1].prompt),
                                                       b.step(i, scenario.spec.steps[i - 1].prompt)))
            finally:
                await asyncio.gather(a.agent.stop(), b.agent.stop())
            return a, b, traces

    a, b, traces = run_async(main())
    for ta, tb in traces:
        assert not ta.errors and not tb.errors
        assert ta.raw["session_id"] != tb.raw["session_id"]
    for run, other in ((a, b), (b, a)):
        mine = [c for c in calls if c.attempt_id == run.route.attempt_id]
        assert mine and all(run.constraint.strip() in c.request["messages"][0]["content"] for c in mine)
        assert not any(other.constraint.strip() in c.request["messages"][0]["content"] for c in mine)
        assert not any(str(other.ws.repo) in str(c.request) for c in mine), "a run saw the other's files"
        dbs = list((tmp_path / ("a" if run is a else "b") / "agent").rglob("opencode.db"))
        assert len(dbs) == 1
    # both workspaces have their own history: their own git folder, each holding only its own initial
    # commit (steps are not snapshotted here), which differs by the constraint in AGENTS.md
    history = {name: run.ws.git("log", "--format=%H").split() for name, run in (("a", a), ("b", b))}
    assert len(history["a"]) == len(history["b"]) == 1 and history["a"] != history["b"], history
    assert a.ws.git_dir != b.ws.git_dir
    for i in (1, 2):
        ref_a = scenario.reference(i, a.condition.constraint)
        ref_b = scenario.reference(i, b.condition.constraint)
        for op in ref_a.ops:
            if hasattr(op, "content"):
                assert (a.ws.repo / op.path).read_text() == op.content
        for op in ref_b.ops:
            if hasattr(op, "content"):
                assert (b.ws.repo / op.path).read_text() == op.content
