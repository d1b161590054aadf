"""A harness's trace checked against the gateway's record of the same step.

Some harnesses keep their record where the agent can write: OpenCode's trace is read back from its
own database, which the agent (running shell commands in its sandbox) could rewrite. The gateway's
record (``ModelRoute.step_calls``, the same calls as ``model_calls`` in the store) is out of the
agent's reach. So after each step the trace's model turns, tool calls and tokens are compared with
the gateway's answered agent turns (calls whose request offered tools: a harness's side calls, such
as OpenCode's title request or its compaction request, are not turns of the agent). Every
difference becomes a warning stored with the step, and the step's usage numbers are the gateway's,
so a rewritten trace can neither hide calls nor change what the report counts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from goaldrift.agents.base import StepTrace
from goaldrift.gateway.record import StepCalls


@dataclass(frozen=True)
class TurnCounts:
    """What one step's agent turns add up to, by one record or the other."""

    model_turns: int
    tool_calls: int
    tokens_in: int
    tokens_out: int


def gateway_turns(calls: StepCalls) -> TurnCounts:
    turns = [c for c in calls.calls if c.answered and c.agent_turn]
    return TurnCounts(len(turns), sum(c.tool_calls for c in turns), sum(c.prompt_tokens for c in turns),
                      sum(c.completion_tokens for c in turns))


def mismatches(trace: TurnCounts, gateway: TurnCounts) -> list[str]:
    """One sentence per count on which the trace and the gateway disagree."""
    return [f"the trace records {getattr(trace, name)} {label}, the gateway {getattr(gateway, name)}"
            for name, label in (("model_turns", "model turns"), ("tool_calls", "tool calls"),
                                ("tokens_in", "prompt tokens"), ("tokens_out", "completion tokens"))
            if getattr(trace, name) != getattr(gateway, name)]


def check_against_gateway(trace: StepTrace, own: TurnCounts, calls: StepCalls) -> StepTrace:
    """Compare the trace's own counts (``own``, the harness's reading of its record) with the gateway's,
    add a warning per difference, and take the step's usage from the gateway: tokens and model calls
    over every answered call of the step (side calls cost too), tool calls and context over agent turns."""
    gateway = gateway_turns(calls)
    found = mismatches(own, gateway)
    trace.raw["trace_check"] = {"trace": asdict(own), "gateway": asdict(gateway), "mismatches": found}
    trace.warnings.extend(f"trace disagrees with the gateway: {m}" for m in found)
    answered = [c for c in calls.calls if c.answered]
    trace.model_calls = len(answered)
    trace.tokens_in = sum(c.prompt_tokens for c in calls.calls)
    trace.tokens_out = sum(c.completion_tokens for c in calls.calls)
    trace.tool_call_count = gateway.tool_calls
    turns = [c for c in answered if c.agent_turn]
    trace.context_tokens = turns[-1].prompt_tokens if turns else 0
    return trace
