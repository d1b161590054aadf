"""The agent contract: start a session in a workspace, run one step per prompt, stop.

A harness (``builtin``, ``opencode``) implements ``Agent``. The trial owns the workspace, the gateway
route and the store; the agent only turns a prompt into changes in ``AgentSession.workspace`` and
returns a ``StepTrace`` of what it did. One session spans all steps of a run, so context accumulates
as in the paper, unless the run's condition asks for a fresh session per step.

A harness also declares its options as a pydantic model (a subclass of ``AgentOptions``) and is
registered under its name in ``agents/registry.py``. The experiment file's ``agent.options`` are
validated against that model when the experiment loads, so a misspelt option is exit 2 before
anything runs — not a failed run. ``AgentLimits`` is the one definition of the per-step limits: the
experiment file's ``agent.limits`` and what a harness enforces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from collections.abc import Callable

    from goaldrift.gateway.record import StepCalls
    from goaldrift.toolchains import Mount


class AgentLimits(BaseModel):
    """Per-step limits. A step that hits one ends early and the limit is recorded as its error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_tool_calls: int = Field(40, ge=1)
    max_tokens: int = Field(2_000_000, ge=100, description="prompt + completion tokens of all calls in a step "
                            "(each call resends the context)")
    wall_time_s: float = Field(600.0, gt=0)
    command_timeout_s: float = Field(60.0, gt=0, description="one shell command run by the agent")


class AgentOptions(BaseModel):
    """Options every harness has; a harness with more subclasses this (see ``opencode.config.Settings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sandbox: Literal["auto", "bwrap", "none"] = Field(
        "auto", description="auto/bwrap: confine the agent with bubblewrap (refused when it is missing); "
        "none: run unconfined, at your own risk")


@dataclass(frozen=True)
class AgentSession:
    """Everything a harness needs to start. ``api_key`` is the per-run gateway token, never a real key.

    ``placement`` says where the constraint goes: ``agents_md`` (the workspace already holds it in
    ``AGENTS.md``, as in the paper), ``instructions`` (an extra instructions file the harness loads),
    ``system_prompt`` (the constraint is the system prompt: it replaces OpenCode's own prompt; the
    builtin agent puts it first, before its tool instructions). ``constraint`` is the full text for the
    placements that the harness must deliver itself.
    """

    workspace: Path
    base_url: str  # e.g. http://127.0.0.1:PORT/r/<token>/v1
    api_key: str
    model: str  # model name to send in requests
    placement: str = "agents_md"
    constraint: str = ""
    limits: AgentLimits = AgentLimits()
    scratch: Path | None = None  # a private directory for the harness's own state (HOME, XDG dirs)
    seed: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    gateway_socket: Path | None = None  # the gateway's unix socket: a sandboxed harness's only way out
    toolchain: Mount | None = None  # the pack's pinned toolchain: read-only, its bin first on the agent's PATH
    # The gateway's record of a step of this run's route so far (``ModelRoute.step_calls``): what a
    # harness whose own record the agent can rewrite is checked against; how it learns its model is stuck.
    gateway_calls: Callable[[int], StepCalls] | None = None


@dataclass
class ToolCall:
    name: str
    input: Any
    output: str = ""
    status: str = "completed"  # completed | error


@dataclass
class StepTrace:
    """What the agent did in one step, from the harness's own record."""

    tool_calls: list[ToolCall] = field(default_factory=list)
    text: str = ""
    tokens_in: int = 0
    tokens_out: int = 0
    context_tokens: int = 0  # prompt tokens of the step's last model call: the accumulated context
    model_calls: int = 0
    compacted: bool = False
    errors: list[str] = field(default_factory=list)
    limit_hit: str | None = None
    warnings: list[str] = field(default_factory=list)  # recorded beside the step; never change its outcome
    tool_call_count: int | None = None  # the gateway's count when the harness's record is not trusted
    raw: dict[str, Any] = field(default_factory=dict)  # harness-specific extras (stored)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool_calls": [tc.__dict__ for tc in self.tool_calls],
            "text": self.text,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "context_tokens": self.context_tokens,
            "model_calls": self.model_calls,
            "compacted": self.compacted,
            "errors": self.errors,
            "limit_hit": self.limit_hit,
            "warnings": self.warnings,
            "tool_call_count": self.tool_call_count,
            "raw": self.raw,
        }


class Agent(Protocol):
    name: str

    async def start(self, session: AgentSession) -> None:
        """Prepare the harness (processes, config). Raise ``AgentError`` if it cannot start."""

    async def step(self, index: int, prompt: str) -> StepTrace:
        """Run one feature request to completion (or a limit). Must return within
        ``limits.wall_time_s`` plus a small grace; errors go into the trace, not exceptions, unless the
        harness is dead and cannot continue (then raise ``AgentError``)."""

    async def stop(self) -> None:
        """Stop every process this agent started; idempotent."""

    def version(self) -> str:
        """Harness version recorded per attempt (e.g. 'opencode 1.18.33')."""
