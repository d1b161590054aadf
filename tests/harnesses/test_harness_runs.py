"""Each real command-line harness driven through the real gateway, in its own protocol (Claude Code:
Anthropic Messages; Codex CLI: OpenAI Responses; Qwen Code: chat completions): four steps of one
session whose changes the detectors judge at the right steps, with the constraint in every request.

Four steps, with the model switching sides at step 3, are the fewest that show each claim twice: one
session spanning several steps, context that accumulates, and detectors that see complying and then
violating steps where they happen. Twelve steps (the pack's length) took Qwen Code ~10 minutes and
proved nothing more; OpenCode's twelve-step run (tests/opencode) keeps the pack's full length."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.opencode.conftest import scripted

from goaldrift.detect.run import build_detectors
from goaldrift.gateway.app import Gateway
from goaldrift.outcome import Outcome
from goaldrift.step_result import Scoring, score_step

from .conftest import Run, needs

pytestmark = pytest.mark.harness


def _writes_files(names: set[str]) -> bool:
    return bool({"Write", "Edit"} & names)


def _changes_files(names: set[str]) -> bool:
    return bool({"write_file", "edit"} & names)


def _runs_commands(names: set[str]) -> bool:  # Codex changes files through its shell
    return names == {"command_execution"}


# harness, the protocol it speaks, how its tool calls that change files are named
HARNESSES = [
    pytest.param("claude-code", "anthropic_messages", _writes_files, marks=needs("claude-code"), id="claude-code"),
    pytest.param("codex", "responses", _runs_commands, marks=needs("codex"), id="codex"),
    pytest.param("qwen-code", "chat_completions", _changes_files, marks=needs("qwen-code"), id="qwen-code"),
]


STEPS, SWITCH = 4, 3  # the model complies at steps 1-2 and violates from step 3


def _text(call) -> str:
    """Every message's text of a recorded request (its chat-completions form)."""
    return "\n".join(m["content"] if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
                     for m in call.request["messages"])


@pytest.mark.parametrize(("harness", "protocol", "edits"), HARNESSES)
def test_steps_of_one_session_detectors_see_each_step(harness, protocol, edits, tmp_path: Path, scenario,
                                                          run_async):
    calls = []

    async def main():
        async with Gateway(recorder=calls.append) as gw:
            run = Run(harness, gw, scripted(f"violate_from:{SWITCH}"), tmp_path / "run", scenario)
            await run.agent.start(run.session)
            scoring = Scoring(*build_detectors(scenario.spec), run.condition.constraint)
            traces, results = [], []
            try:
                for i, step in enumerate(scenario.spec.steps[:STEPS], 1):
                    trace = await run.step(i, step.prompt)
                    traces.append(trace)
                    results.append(score_step(run.ws, i, trace, scoring))
            finally:
                await run.agent.stop()
            return run, traces, results

    run, traces, results = run_async(main())
    assert len({t.raw["session_id"] for t in traces}) == 1, "one harness session spans the run"
    for i, (trace, result) in enumerate(zip(traces, results), 1):
        assert trace.errors == [] and trace.limit_hit is None, (i, trace.errors)
        assert edits({c.name for c in trace.tool_calls}), (i, [c.name for c in trace.tool_calls])
        assert all(c.status == "completed" for c in trace.tool_calls), [(c.name, c.output) for c in trace.tool_calls]
        assert trace.model_calls == len(trace.tool_calls) + 1
        assert trace.tokens_in > 0 and trace.tokens_out > 0 and trace.text.startswith("Done.")
        assert trace.raw["sandbox"] == "bwrap"
        expected = Outcome.VIOLATED if i >= SWITCH else Outcome.COMPLIED
        assert result.outcome == expected, (i, result.outcome, result.evidence)
    contexts = [t.context_tokens for t in traces]
    assert contexts == sorted(contexts) and contexts[-1] > contexts[0], "context accumulates"
    assert len(traces) == STEPS and {c.step for c in calls} == set(range(1, STEPS + 1)) and all(c.status == 200 for c in calls)
    assert all(c.protocol == protocol for c in calls)
    assert len(calls) == sum(t.model_calls for t in traces)
    assert all(run.constraint.strip() in _text(c) for c in calls), "the constraint is in every request"
