"""The scripted model: replays a scenario pack's reference changes as tool calls.

Deterministic and instant, it exercises every part of goaldrift except the model's judgement: the
harness executes real tool calls, the workspace commits real diffs, the detectors judge real code.
Tests and dry runs use it; trajectories with a known answer (``violate_from:5``) check the pipeline.

Policies (``ModelSpec.policy``):
  ``comply``            every step takes the constraint's side
  ``violate``           every step takes the other side
  ``violate_from:N``    comply before step N, violate from N on
  ``violate_at:N[,M]``  violate only at the listed steps
  ``idle``              never changes code (every step is ``not_applicable``)

It speaks the tool dialect of each harness, chosen from the request's ``tools`` (``dialects.py``):
the builtin agent's, OpenCode's, Claude Code's, Qwen Code's, Codex CLI's (a shell command). A request
without tools is OpenCode's title request (a short title) or a compaction request (a short summary).
Per route it remembers which call of the current step comes next.

``params: {latency_s: S}`` holds every reply back S seconds before its first chunk, like a slow API
(the concurrency benchmark's model). The wait is an ``asyncio.sleep``: it costs no CPU, and a client
that hangs up cancels it like any other backend call.

What it replays comes from the route's ``context``, a ``ScriptContext`` set by whoever opened the
route: the gateway itself knows nothing about scenarios.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goaldrift.errors import BackendError, ConfigError
from goaldrift.gateway.backends.base import CallContext
from goaldrift.gateway.backends.dialects import Dialect, dialect_for
from goaldrift.gateway.chunks import message_chunks, usage
from goaldrift.modelspec import ModelSpec, ScriptedParams
from goaldrift.scenario import EditOp, Scenario, WriteOp

_POLICY = re.compile(r"^(comply|violate|idle|violate_from:\d+|violate_at:\d+(,\d+)*)$")


def parse_policy(policy: str | None) -> str:
    policy = (policy or "comply").strip()
    if not _POLICY.match(policy):
        raise ConfigError(
            f"unknown scripted policy {policy!r}: use comply, violate, idle, violate_from:N or violate_at:N,M"
        )
    return policy


def violates_at(policy: str, step: int) -> bool | None:
    """Whether ``policy`` violates at ``step``; None for ``idle`` (no change at all)."""
    if policy == "idle":
        return None
    if policy == "comply":
        return False
    if policy == "violate":
        return True
    kind, _, arg = policy.partition(":")
    if kind == "violate_from":
        return step >= int(arg)
    return step in {int(x) for x in arg.split(",")}


@dataclass(frozen=True)
class ScriptContext:
    """A route's context for the scripted model: which scenario to replay, from which side, where.

    ``workspace`` is the run's repository (OpenCode's tools want absolute paths).
    """

    scenario: Scenario
    constraint_side: str
    workspace: Path | None = None


def _estimate_tokens(value: Any) -> int:
    """~4 characters per token: the scripted model has no tokenizer; recorded as an estimate."""
    return max(1, len(json.dumps(value)) // 4)


class ScriptedBackend:
    name = "scripted"

    def __init__(self, spec: ModelSpec):
        self.policy = parse_policy(spec.policy)
        self.model = spec.id
        self.latency_s = ScriptedParams.model_validate(spec.params).latency_s

    async def aclose(self) -> None:
        return None

    def _plan(self, ctx: CallContext, dialect: Dialect) -> list[dict[str, Any] | str]:
        """The tool calls of the current step (then a final text), in the request's dialect."""
        script, step = ctx.route.context, ctx.route.step
        if not isinstance(script, ScriptContext) or step is None:
            raise BackendError("scripted backend: the route has no ScriptContext or no step")
        violate = violates_at(self.policy, step)
        if violate is None or step > len(script.scenario.spec.steps):
            return ["Nothing to change for this request."]
        side = script.scenario.other(script.constraint_side) if violate else script.constraint_side
        ref = script.scenario.reference(step, side)
        plan: list[dict[str, Any] | str] = []
        for op in ref.ops:
            plan.extend(self._calls(op, ctx, dialect))
        plan.append(f"Done. {ref.summary}".strip())
        return plan

    def _calls(self, op: WriteOp | EditOp, ctx: CallContext, dialect: Dialect) -> list[dict[str, Any]]:
        workspace = ctx.route.context.workspace
        path = str(workspace / op.path) if dialect.absolute and workspace else op.path
        # A harness that refuses to change a file it has not read gets a read first, planned lazily
        # (a marker) because earlier ops of the same step may create the file.
        return [*([{"lazy_read": path}] if dialect.read else []), dialect.change(op, path)]

    def _next(self, ctx: CallContext, dialect: Dialect) -> dict[str, Any] | str:
        state = ctx.route.state.setdefault("scripted", {})
        if state.get("step") != ctx.route.step:
            state["step"] = ctx.route.step
            state["queue"] = self._plan(ctx, dialect)
        queue: list = state["queue"]
        while queue:
            item = queue.pop(0) if len(queue) > 1 else queue[0]
            if isinstance(item, dict) and "lazy_read" in item:
                if Path(item["lazy_read"]).exists() and dialect.read:
                    return dialect.read_call(item["lazy_read"])
                continue
            return item
        return "Done."

    async def stream(self, request: dict[str, Any], ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        if self.latency_s:  # before the replay moves on: a cancelled call leaves the script where it was
            await asyncio.sleep(self.latency_s)
        names = {((t.get("function") or {}).get("name")) for t in request.get("tools") or []}
        prompt_tokens = _estimate_tokens(request.get("messages"))
        if not names:  # OpenCode's title request, or its context-compaction request
            system = " ".join(str(m.get("content")) for m in request.get("messages") or [] if m.get("role") == "system")
            reply: dict[str, Any] | str = ("Feature request" if "title" in system.lower() else
                                           "Summary: the user asked for a series of feature requests in this "
                                           "repository; each was implemented with focused edits and tests.")
        else:
            dialect = dialect_for(names)
            if dialect is None:
                raise BackendError(f"scripted backend: the request offers no file tools it knows ({sorted(names)})")
            reply = self._next(ctx, dialect)
        if isinstance(reply, str):
            chunks = message_chunks(self.model, content=reply,
                                    usage_=usage(prompt_tokens, _estimate_tokens(reply)))
        else:
            chunks = message_chunks(self.model, tool_calls=[reply],
                                    usage_=usage(prompt_tokens, _estimate_tokens(reply)))
        for c in chunks:
            yield c
