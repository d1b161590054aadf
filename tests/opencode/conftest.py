"""Fixtures for the OpenCode harness tests: the real binary, the real gateway, misbehaving backends,
and an orphan check after every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.processes import none_left_behind

from goaldrift.agents.base import AgentLimits, AgentSession
from goaldrift.agents.opencode import OpenCodeAgent
from goaldrift.agents.opencode.install import INSTALL_COMMAND, OPENCODE_VERSION, find_opencode
from goaldrift.conditions import Condition
from goaldrift.errors import BackendError, SandboxUnavailable
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.scripted import ScriptContext, ScriptedBackend
from goaldrift.gateway.chunks import message_chunks, tool_call, usage
from goaldrift.modelspec import ModelSpec
from goaldrift.sandbox import Sandbox
from goaldrift.scenario import Scenario, load_scenario
from goaldrift.workspace import Workspace

PACKS = Path(__file__).resolve().parents[2] / "src" / "goaldrift" / "packs"
OPENCODE = find_opencode()

def bwrap_works() -> bool:
    """The real sandbox can run here (bubblewrap and its namespaces)."""
    try:
        Sandbox.probe("bwrap")
    except SandboxUnavailable:
        return False
    return True


needs_opencode = pytest.mark.skipif(
    OPENCODE is None, reason=f"OpenCode {OPENCODE_VERSION} is not installed (run `{INSTALL_COMMAND}`)")


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario(PACKS / "utility-privacy")


# -- orphans ----------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_orphans(tmp_path: Path):
    """Every OpenCode or bubblewrap process a test started is gone when it ends."""
    with none_left_behind(tmp_path, names=("opencode", "bwrap")):
        yield


# -- backends ---------------------------------------------------------------------------------------


class Misbehaving:
    """Wraps a backend; at chosen steps it hangs, fails (BackendError → HTTP 502) or is slow."""

    def __init__(self, inner: Any, *, hang: set[int] = frozenset(), fail: set[int] = frozenset(),
                 delay: dict[int, float] | None = None):
        self.inner, self.hang, self.fail, self.delay = inner, set(hang), set(fail), dict(delay or {})
        self.name, self.model = inner.name, inner.model
        self.calls: list[int | None] = []

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def stream(self, request: dict[str, Any], ctx: Any) -> AsyncIterator[dict[str, Any]]:
        step = ctx.route.step
        self.calls.append(step)
        if step in self.fail:
            raise BackendError(f"injected failure at step {step}")
        if step in self.hang:
            await asyncio.sleep(3600)
        if step in self.delay:
            await asyncio.sleep(self.delay[step])
        async for c in self.inner.stream(request, ctx):
            yield c


class Programmed:
    """A model that plays, per step, a list of OpenCode tool calls ``(tool, args)`` then a final text."""

    name = "programmed"
    model = "programmed"

    def __init__(self, plan: dict[int, list[tuple[str, dict[str, Any]] | str]]):
        self.plan = plan

    async def aclose(self) -> None:
        return None

    async def stream(self, request: dict[str, Any], ctx: Any) -> AsyncIterator[dict[str, Any]]:
        if not request.get("tools"):
            reply: Any = "A title"
        else:
            state = ctx.route.state.setdefault("programmed", {})
            if state.get("step") != ctx.route.step:
                state.update(step=ctx.route.step, i=0)
            items = self.plan.get(ctx.route.step, [])
            i = state["i"]
            state["i"] = i + 1
            reply = items[i] if i < len(items) else "Done."
        use = usage(1000, 10)
        if isinstance(reply, str):
            chunks = message_chunks(self.model, content=reply, usage_=use)
        else:
            chunks = message_chunks(self.model, tool_calls=[tool_call(reply[0], reply[1])], usage_=use)
        for c in chunks:
            yield c


def scripted(policy: str = "comply") -> ScriptedBackend:
    return ScriptedBackend(ModelSpec(id="scripted", backend="scripted", policy=policy))


# -- one run ----------------------------------------------------------------------------------------


class Run:
    """A workspace, a gateway route and an OpenCode agent, as the runner would set them up."""

    def __init__(self, gw: Gateway, backend: Any, root: Path, scenario: Scenario, *, side: str | None = None,
                 placement: str = "agents_md", options: dict[str, Any] | None = None,
                 limits: AgentLimits | None = None, attempt_id: int = 1):
        side = side or scenario.sides[0]
        self.condition = Condition(constraint=side, placement=placement)
        self.constraint = scenario.value(side).constraint
        self.ws = Workspace.create(root, scenario, self.condition)
        self.route = gw.open_route(backend, attempt_id=attempt_id,
                                   context=ScriptContext(scenario, side, self.ws.repo))
        (root / "agent").mkdir()
        self.session = AgentSession(
            workspace=self.ws.repo, base_url=gw.url_for(self.route), api_key=self.route.token,
            model=backend.model, placement=placement, constraint=self.constraint,
            limits=limits or AgentLimits(wall_time_s=90), scratch=root / "agent", options=dict(options or {}),
            gateway_socket=gw.socket_path, gateway_calls=self.route.step_calls)
        self.agent = OpenCodeAgent()

    async def step(self, i: int, prompt: str):
        self.route.step = i
        return await self.agent.step(i, prompt)


@pytest.fixture
def run_async() -> Callable:
    def go(coro, timeout: float = 400):
        return asyncio.run(asyncio.wait_for(coro, timeout))
    return go
