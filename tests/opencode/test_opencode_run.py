"""A real OpenCode driven through the real gateway: changes made by OpenCode's own tools, the
constraint on every request, the trace, both drivers, the three placements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from goaldrift.agents.opencode.install import plugin_modules
from goaldrift.gateway.app import Gateway
from goaldrift.scenario import WriteOp

from .conftest import Programmed, Run, bwrap_works, needs_opencode, scripted

pytestmark = [pytest.mark.opencode, needs_opencode]


def _system(call) -> str:
    return call.request["messages"][0]["content"]


def test_twelve_steps_through_opencode_tools(tmp_path: Path, scenario, run_async):
    calls = []

    async def main():
        async with Gateway(recorder=calls.append) as gw:
            # The default max_tokens (2,000,000) holds all twelve steps (~210k in step 12, docs/opencode.md).
            run = Run(gw, scripted("comply"), tmp_path / "run", scenario)
            await run.agent.start(run.session)
            traces, snaps = [], []
            try:
                for i, step in enumerate(scenario.spec.steps, 1):
                    traces.append(await run.step(i, step.prompt))
                    snaps.append(run.ws.snapshot(i))
            finally:
                await run.agent.stop()
            return run, traces, snaps

    run, traces, snaps = run_async(main())
    side = run.condition.constraint
    session_ids = {t.raw["session_id"] for t in traces}
    assert len(session_ids) == 1, "one OpenCode session spans the run"
    for i, (trace, snap) in enumerate(zip(traces, snaps), 1):
        assert trace.errors == [] and trace.limit_hit is None, (i, trace.errors)
        ref = scenario.reference(i, side)
        names = [c.name for c in trace.tool_calls]
        assert {"write", "edit"} & set(names), names
        assert all(c.status == "completed" for c in trace.tool_calls), [(c.name, c.output) for c in trace.tool_calls]
        assert snap.files_changed >= 1, f"step {i} changed nothing"
        for op in ref.ops:
            target = run.ws.repo / op.path
            assert target.is_file()
            # later steps may edit around a change: every line of it is still there
            text = target.read_text()
            change = op.content if isinstance(op, WriteOp) else op.new
            assert all(line in text for line in change.splitlines()), (i, op.path)
        # OpenCode's record agrees with the gateway's; the step's counts are the gateway's (every answered
        # call: the agent's turns, and in step 1 OpenCode's title request).
        assert trace.warnings == [], (i, trace.raw["trace_check"])
        assert trace.raw["trace_check"]["trace"]["model_turns"] == len(trace.tool_calls) + 1
        step_calls = [c for c in calls if c.step == i]
        assert trace.model_calls == len(step_calls) and trace.tool_call_count == len(trace.tool_calls)
        assert trace.tokens_in == sum(c.prompt_tokens for c in step_calls) > 0
        assert trace.tokens_out == sum(c.completion_tokens for c in step_calls) > 0
        assert trace.text.startswith("Done.")
        assert trace.raw["sandbox"] == ("bwrap" if bwrap_works() else "none")
    contexts = [t.context_tokens for t in traces]
    assert contexts == sorted(contexts) and contexts[-1] > 2 * contexts[0], "context accumulates"
    # The constraint (AGENTS.md) is in the system prompt of every request the agent made.
    agent_calls = [c for c in calls if c.request.get("tools")]
    assert len(agent_calls) == sum(t.raw["trace_check"]["trace"]["model_turns"] for t in traces)
    assert all(run.constraint.strip() in _system(c) for c in agent_calls)
    assert {c.step for c in calls} == set(range(1, 13))
    assert all(c.status == 200 for c in calls)
    # Offline: in the sandbox the run's network namespace has nothing but the gateway's relay, and the
    # twelve steps needed nothing from npm: no npm cache, the plugin is the carried copy (a link).
    opencode = tmp_path / "run" / "agent" / "opencode"
    assert not (opencode / "home" / ".npm").exists()
    carried = plugin_modules()
    if carried is not None:
        assert (opencode / "xdg-config" / "opencode" / "node_modules").resolve() == carried.resolve()


@pytest.mark.parametrize("placement", ["instructions", "system_prompt"])
def test_constraint_placements(tmp_path: Path, scenario, run_async, placement):
    calls = []

    async def main():
        async with Gateway(recorder=calls.append) as gw:
            run = Run(gw, scripted("comply"), tmp_path / "run", scenario, placement=placement)
            await run.agent.start(run.session)
            try:
                trace = await run.step(1, scenario.spec.steps[0].prompt)
            finally:
                await run.agent.stop()
            return run, trace

    run, trace = run_async(main())
    assert not trace.errors and trace.tool_calls
    agent_calls = [c for c in calls if c.request.get("tools")]
    assert agent_calls
    agents_md = (run.ws.repo / "AGENTS.md").read_text()
    assert run.constraint.strip() not in agents_md, "the workspace does not carry it for this placement"
    for c in agent_calls:
        system = _system(c)
        assert run.constraint.strip() in system
        if placement == "system_prompt":
            assert system.startswith(run.constraint.strip()), "the custom agent's prompt replaces OpenCode's"
        else:
            assert "Instructions from:" in system and system.index(run.constraint.strip()) > 1000


def test_run_driver_continues_the_session(tmp_path: Path, scenario, run_async):
    calls = []

    async def main():
        async with Gateway(recorder=calls.append) as gw:
            run = Run(gw, scripted("comply"), tmp_path / "run", scenario, options={"driver": "run"})
            await run.agent.start(run.session)
            try:
                t1 = await run.step(1, scenario.spec.steps[0].prompt)
                t2 = await run.step(2, scenario.spec.steps[1].prompt)
            finally:
                await run.agent.stop()
            return t1, t2

    t1, t2 = run_async(main())
    for t in (t1, t2):
        assert t.raw["driver"] == "run" and not t.errors and t.tool_calls
        assert all(c.status == "completed" for c in t.tool_calls)
    assert t1.raw["session_id"] == t2.raw["session_id"]
    assert t2.context_tokens > t1.context_tokens
    assert all(c.request.get("tools") for c in calls), "no title request: --title is passed"


def test_sandbox_and_clean_environment(tmp_path: Path, scenario, run_async, monkeypatch):
    """The agent's commands see no parent secrets, no home directory, and cannot write outside."""
    if not bwrap_works():
        pytest.skip("bubblewrap cannot run here")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    outside = tmp_path / "outside.txt"
    marker = Path.home() / ".gd-sandbox-probe"
    plan = {1: [("bash", {"command": "env; ls -A ~ /root 2>&1; echo x > " + str(outside) +
                          "; echo y > " + str(marker) + "; echo ok > inside.txt",
                          "description": "probe"}),
                ("write", {"filePath": str(tmp_path / "elsewhere" / "w.txt"), "content": "nope"})]}

    async def main():
        async with Gateway() as gw:
            run = Run(gw, Programmed(plan), tmp_path / "run", scenario, options={"sandbox": "bwrap"})
            await run.agent.start(run.session)
            try:
                trace = await run.step(1, "probe")
            finally:
                await run.agent.stop()
            return run, trace

    run, trace = run_async(main())
    bash, write = trace.tool_calls[:2]
    assert bash.name == "bash" and bash.status == "completed"
    assert "sk-parent-secret" not in bash.output and "OPENAI_API_KEY" not in bash.output
    assert not outside.exists() and not marker.exists()
    assert (run.ws.repo / "inside.txt").read_text() == "ok\n"
    # Writing outside the workspace asks for permission: answered by policy (reject), never blocks.
    assert write.name == "write" and write.status == "error"
    assert not (tmp_path / "elsewhere" / "w.txt").exists()
    assert trace.raw.get("permissions") and trace.raw["permissions"][0]["reply"] == "reject"
    assert json.dumps(trace.raw["permissions"])
