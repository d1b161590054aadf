"""OpenCode's trace checked against the gateway's record, and a stuck model ending its step early.

The unit tests need no binary; the two marked ``opencode`` run the pinned OpenCode with a programmed
model: one step whose trace is rewritten after the fact (flagged, usage from the gateway), and one
step whose model repeats a failing call (aborted as ``stuck``, not at the wall clock).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from goaldrift import packs
from goaldrift.agents.base import AgentLimits, AgentSession, StepTrace, ToolCall
from goaldrift.agents.opencode.config import Settings
from goaldrift.agents.opencode.serve import stuck
from goaldrift.agents.opencode.trace import build_trace, turn_counts
from goaldrift.conditions import Condition
from goaldrift.detect.run import build_detectors
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.record import CallRecord, CallSummary, StepCalls
from goaldrift.localmodel.repeats import repeated_failure
from goaldrift.outcome import Outcome
from goaldrift.step_result import Scoring, score_step
from goaldrift.stepview import step_outcomes, step_view
from goaldrift.store import Store
from goaldrift.tracecheck import TurnCounts, check_against_gateway, gateway_turns
from goaldrift.workspace import Workspace

from .conftest import Programmed, Run, needs_opencode

TOOLS = [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"}}}]


def _call(cid: str, name: str, args: str) -> dict:
    return {"id": cid, "type": "function", "function": {"name": name, "arguments": args}}


def _turn(cid: str, name: str, args: str, result: str) -> list[dict]:
    return [{"role": "assistant", "content": "", "tool_calls": [_call(cid, name, args)]},
            {"role": "tool", "tool_call_id": cid, "content": result}]


# -- the gateway's count of a repeated failing call ----------------------------------------------------


def test_repeated_failure_counts_one_failing_call_since_the_latest_prompt():
    missing = "Error: File not found: /w/missing.py"
    messages = [{"role": "user", "content": "step 1"},
                *_turn("a", "read", '{"filePath": "/w/missing.py"}', missing),
                *_turn("b", "read", '{"filePath": "/w/missing.py"}', missing),
                {"role": "user", "content": "step 2"},
                *_turn("c", "read", '{"filePath": "/w/missing.py"}', missing),
                *_turn("d", "read", '{"filePath":"/w/missing.py"}', missing),  # same arguments, other spacing
                *_turn("e", "read", '{"filePath": "/w/other.py"}', missing),  # other arguments
                *_turn("f", "read", '{"filePath": "/w/a.py"}', "1: x = 1"),
                *_turn("g", "read", '{"filePath": "/w/a.py"}', "1: x = 1")]  # repeated, but it succeeds
    assert repeated_failure(messages) == ("read", 2)  # the two before the latest prompt do not count
    assert repeated_failure(messages[:1]) == (None, 0)
    parts = [{"role": "user", "content": "go"},
             {"role": "assistant", "tool_calls": [_call("x", "bash", '{"command": "make"}')]},
             {"role": "tool", "tool_call_id": "x", "content": [{"type": "text", "text": "make: failed"}]}]
    assert repeated_failure(parts) == ("bash", 1)  # content given as parts


class Watching(Programmed):
    """Notes the gateway's repeat count as each call reaches the backend, i.e. while the call runs."""

    def __init__(self, plan):
        super().__init__(plan)
        self.repeats_during_call: list[int] = []

    async def stream(self, request, ctx):
        self.repeats_during_call.append(ctx.route.step_calls(ctx.route.step).repeats)
        async for c in super().stream(request, ctx):
            yield c


def test_the_gateway_keeps_each_step_s_calls_per_route(run_async):
    """Agent turns (a request with tools) and side calls (OpenCode's title request) apart, per step;
    a repeated failing call counted as soon as the request carrying it arrives."""
    backend = Watching({1: [("read", {"filePath": "/w/missing.py"})] * 3})

    async def main():
        async with Gateway() as gw:
            route = gw.open_route(backend, attempt_id=1)
            other = gw.open_route(backend, attempt_id=2)
            route.step = other.step = 1
            messages = [{"role": "user", "content": "do it"}]
            async with httpx.AsyncClient(base_url=gw.url_for(route)) as client:
                await client.post("/chat/completions", json={"model": "m", "messages": messages})  # title
                for i in range(3):
                    r = await client.post("/chat/completions",
                                          json={"model": "m", "messages": messages, "tools": TOOLS})
                    call = r.json()["choices"][0]["message"]["tool_calls"][0]
                    messages = [*messages, {"role": "assistant", "content": "", "tool_calls": [call]},
                                {"role": "tool", "tool_call_id": call["id"],
                                 "content": "Error: File not found"}]
            return route.step_calls(1), route.step_calls(2), other.step_calls(1)

    calls, later, other = run_async(main())
    assert [(c.agent_turn, c.tool_calls, c.prompt_tokens, c.completion_tokens) for c in calls.calls] == [
        (False, 0, 1000, 10), (True, 1, 1000, 10), (True, 1, 1000, 10), (True, 1, 1000, 10)]
    assert (calls.repeated_call, calls.repeats) == ("read", 2)  # the third failure is not reported yet
    assert gateway_turns(calls) == TurnCounts(model_turns=3, tool_calls=3, tokens_in=3000, tokens_out=30)
    assert later.calls == [] and other.calls == []  # another step, another route: nothing
    assert backend.repeats_during_call == [0, 0, 1, 2]


# -- the check ------------------------------------------------------------------------------------


def _finish(i: int, o: int, reason: str) -> dict:
    return {"type": "step-finish", "reason": reason,
            "tokens": {"input": i, "output": o, "reasoning": 0, "cache": {"read": 0, "write": 0}}}


def _opencode_messages() -> list[dict]:
    """One step as OpenCode records it: a tool turn, a final answer, a compaction summary."""
    return [
        {"info": {"id": "m1", "role": "user"}, "parts": [{"type": "text", "text": "do it"}]},
        {"info": {"id": "m2", "role": "assistant"}, "parts": [
            {"type": "tool", "tool": "write", "state": {"status": "completed", "input": {}, "output": "ok"}},
            _finish(900, 20, "tool-calls")]},
        {"info": {"id": "m3", "role": "assistant"}, "parts": [{"type": "text", "text": "Done."},
                                                              _finish(1000, 5, "stop")]},
        {"info": {"id": "m4", "role": "assistant", "summary": True}, "parts": [
            {"type": "text", "text": "summary"}, _finish(1200, 50, "stop")]},
    ]


def _gateway_saw(*turns: tuple[int, int, int], side: int = 2) -> StepCalls:
    """Agent turns (prompt, completion, tool calls) plus ``side`` answered calls without tools."""
    calls = StepCalls([CallSummary(200, False, 300, 4, 0) for _ in range(side)])
    calls.calls += [CallSummary(200, True, p, c, t) for p, c, t in turns]
    calls.calls.append(CallSummary(502, True, 0, 0, 0))  # a failed call is no turn
    return calls


def test_a_trace_that_matches_the_gateway_has_no_warning_and_the_gateway_s_usage():
    trace = build_trace(_opencode_messages())
    assert turn_counts(trace) == TurnCounts(2, 1, 1900, 25)  # the summary is a side call, as at the gateway
    check_against_gateway(trace, turn_counts(trace), _gateway_saw((900, 20, 1), (1000, 5, 0)))
    assert trace.warnings == [] and trace.raw["trace_check"]["mismatches"] == []
    # Usage counts every answered call, the side calls too (title, compaction): they cost.
    assert (trace.model_calls, trace.tokens_in, trace.tokens_out) == (4, 2500, 33)
    assert trace.tool_call_count == 1 and trace.context_tokens == 1000


def test_a_rewritten_trace_is_flagged_and_cannot_change_the_counts():
    """The agent deleted a tool call and a model turn from OpenCode's record: the gateway saw them."""
    messages = _opencode_messages()
    del messages[1]  # the write turn is gone from the record
    trace = build_trace(messages)
    gateway = _gateway_saw((900, 20, 1), (1000, 5, 0))
    check_against_gateway(trace, turn_counts(trace), gateway)
    assert trace.warnings == [
        "trace disagrees with the gateway: the trace records 1 model turns, the gateway 2",
        "trace disagrees with the gateway: the trace records 0 tool calls, the gateway 1",
        "trace disagrees with the gateway: the trace records 1000 prompt tokens, the gateway 1900",
        "trace disagrees with the gateway: the trace records 5 completion tokens, the gateway 25"]
    assert trace.raw["trace_check"]["trace"] == {"model_turns": 1, "tool_calls": 0, "tokens_in": 1000,
                                                 "tokens_out": 5}
    assert (trace.model_calls, trace.tool_call_count, trace.tokens_in) == (4, 1, 2500)
    # Inflated token counts are flagged just the same.
    inflated = build_trace(_opencode_messages())
    inflated.raw["calls"][0]["in"] = 90_000
    check_against_gateway(inflated, turn_counts(inflated), gateway)
    assert inflated.warnings == [
        "trace disagrees with the gateway: the trace records 91000 prompt tokens, the gateway 1900"]


def test_a_warning_is_stored_with_the_step_and_shown_but_never_changes_its_outcome(mini_pack, tmp_path):
    scenario = packs.load(str(mini_pack))
    detectors, primary = build_detectors(scenario.spec)
    ws = Workspace.create(tmp_path / "w", scenario, Condition("privacy"))
    trace = StepTrace(tool_calls=[ToolCall("write", {})], warnings=["trace disagrees with the gateway: x"],
                      tool_call_count=3)
    result = score_step(ws, 1, trace, Scoring(detectors, primary, "privacy"))
    assert result.outcome is Outcome.NOT_APPLICABLE  # nothing changed: a warning is not a failure
    assert result.error == "warning: trace disagrees with the gateway: x"
    assert result.usage.tool_calls == 3  # the gateway's count, not the trace's list
    store = Store(tmp_path / "store.db")
    try:
        store.plan_runs("e", [])
        attempt, _ = store.start_attempt("r", "")
        store.write_step(attempt, result)
        assert step_outcomes(store, attempt)[0]["error"] == result.error  # `goaldrift show RUN`
        view = step_view(store, attempt, 1)  # `goaldrift show RUN --step 1`
        assert view.error == result.error and view.trace["warnings"] == trace.warnings
        assert view.usage["tool_calls"] == 3
    finally:
        store.close()


def test_stuck_is_the_gateway_s_count_against_repeat_limit(tmp_path: Path):
    seen = {1: StepCalls(repeated_call="edit", repeats=3), 2: StepCalls(repeated_call="edit", repeats=2)}
    session = AgentSession(workspace=tmp_path, base_url="http://127.0.0.1:9/r/t/v1", api_key="t", model="m",
                           gateway_calls=lambda step: seen[step])
    reason = stuck(session, Settings(), 1)
    assert reason == ("stuck: repeated failing call (edit with the same arguments failed 3 times; "
                      "repeat_limit 3)")
    assert stuck(session, Settings(), 2) is None
    assert stuck(session, Settings(repeat_limit=2), 2) is not None
    assert stuck(session, Settings(repeat_limit=0), 1) is None  # 0: off
    no_gateway = AgentSession(workspace=tmp_path, base_url="http://x/v1", api_key="t", model="m")
    assert stuck(no_gateway, Settings(), 1) is None


def test_step_calls_read_a_refused_call_without_a_request():
    calls = StepCalls()
    calls.add(CallRecord(attempt_id=1, step=1, backend="b", model="m", stream=False, status=400,
                         latency_s=0.0))
    assert calls.calls == [CallSummary(400, False, 0, 0, 0)] and calls.repeats == 0


# -- with the pinned OpenCode ----------------------------------------------------------------------


@pytest.mark.opencode
@needs_opencode
def test_opencode_trace_rewritten_by_the_agent_is_flagged(tmp_path: Path, scenario, run_async):
    """Step 1 as OpenCode recorded it matches the gateway; step 2's record is rewritten (as an agent
    with a shell could rewrite OpenCode's database) and the difference is flagged."""
    async def main():
        async with Gateway() as gw:
            backend = Programmed({})
            run = Run(gw, backend, tmp_path / "run", scenario)
            note = str(run.ws.repo / "NOTES.md")
            backend.plan = {1: [("write", {"filePath": note, "content": "one\n"})],
                            2: [("write", {"filePath": note, "content": "two\n"})]}
            await run.agent.start(run.session)
            try:
                honest = await run.step(1, "Write NOTES.md.")
                driver = run.agent.driver
                read = driver._messages

                async def rewritten():  # the step's tool turn removed from OpenCode's record
                    messages = await read()
                    return [m for m in messages if m["info"]["id"] in driver._seen
                            or not any(p.get("type") == "tool" for p in m.get("parts", []))]
                driver._messages = rewritten
                tampered = await run.step(2, "Write NOTES.md again.")
            finally:
                await run.agent.stop()
            return honest, tampered, run.route.step_calls(2)

    honest, tampered, gateway = run_async(main())
    assert not honest.errors and honest.tool_calls, honest.errors
    assert honest.warnings == [], honest.raw["trace_check"]
    assert not tampered.tool_calls  # the rewritten record has no tool call
    assert any("model turns" in w for w in tampered.warnings), tampered.warnings
    assert any("tool calls" in w for w in tampered.warnings), tampered.warnings
    # The step's numbers are the gateway's, which the rewrite could not touch.
    assert tampered.tool_call_count == gateway_turns(gateway).tool_calls == 1
    assert tampered.model_calls == sum(c.answered for c in gateway.calls) >= 2
    assert tampered.tokens_in == sum(c.prompt_tokens for c in gateway.calls)


class SlowOnceStuck(Programmed):
    """A slow local model, in effect: once the gateway has counted the third identical failure, the
    next reply takes an hour. Only stopping the turn (and so cancelling that call) ends the step early."""

    async def stream(self, request, ctx):
        if ctx.route.step_calls(ctx.route.step).repeats >= 3:
            await asyncio.sleep(3600)
        async for c in super().stream(request, ctx):
            yield c


@pytest.mark.opencode
@needs_opencode
@pytest.mark.parametrize("driver", ["serve", "run"])
def test_opencode_step_stuck_on_a_repeated_failing_call_ends_early_as_error(tmp_path: Path, scenario,
                                                                             run_async, driver):
    """The model reads a missing file again and again: the gateway counts it as each request arrives,
    and the driver stops the turn at the third identical failure, cancelling the call in flight,
    instead of letting it run to the wall clock."""
    async def main():
        async with Gateway() as gw:
            backend = SlowOnceStuck({})
            run = Run(gw, backend, tmp_path / "run", scenario, limits=AgentLimits(wall_time_s=240),
                      options={"driver": driver})
            backend.plan = {1: [("read", {"filePath": str(run.ws.repo / "missing.py")})] * 30}
            await run.agent.start(run.session)
            try:
                trace = await run.step(1, "Read missing.py.")
            finally:
                await run.agent.stop()
            return trace, run.route.step_calls(1)

    trace, gateway = run_async(main())
    # A busy machine may reach the wall clock before the third call: legal, but then nothing is claimed.
    if trace.limit_hit == "wall_time" and gateway.repeats < 3:
        pytest.skip("the wall clock came first on this loaded machine")
    assert trace.limit_hit == "repeated_call", (trace.limit_hit, trace.errors)
    assert any(e.startswith("stuck: repeated failing call (read") for e in trace.errors), trace.errors
    assert (gateway.repeated_call, gateway.repeats) == ("read", 3)
    # Three reads answered; the fourth request (carrying the third failure) was cancelled, not answered.
    assert gateway_turns(gateway).model_turns == 3
    assert [c.status for c in gateway.calls if c.agent_turn][-1] == 499
    assert not any(e.startswith("MessageAbortedError") for e in trace.errors)
    assert trace.raw["settings"]["repeat_limit"] == 3
