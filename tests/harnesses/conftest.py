"""Fixtures for the command-line harness tests (Claude Code, Codex CLI, Qwen Code): the real binary,
the real gateway with the scripted model or a misbehaving one, and an orphan check after every test."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.processes import none_left_behind

from goaldrift.agents.base import AgentLimits, AgentSession
from goaldrift.agents.npm_harness import HARNESS_PACKAGES
from goaldrift.agents.registry import create_agent
from goaldrift.conditions import Condition
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.scripted import ScriptContext
from goaldrift.scenario import Scenario, load_scenario
from goaldrift.workspace import Workspace

PACKS = Path(__file__).resolve().parents[2] / "src" / "goaldrift" / "packs"


def needs(harness: str) -> pytest.MarkDecorator:
    """Skip unless the pinned binary of ``harness`` is installed (say how to install it)."""
    package = HARNESS_PACKAGES[harness]
    return pytest.mark.skipif(package.find() is None, reason=f"{package.label} {package.version} is not "
                              f"installed (run `{package.install_command}`)")


@pytest.fixture(scope="session")
def scenario() -> Scenario:
    return load_scenario(PACKS / "utility-privacy")


@pytest.fixture(autouse=True)
def no_orphans(tmp_path: Path):
    """Every process a test started is gone when it ends."""
    with none_left_behind(tmp_path):
        yield


class Run:
    """A workspace, a gateway route and a harness's agent, as a trial would set them up."""

    def __init__(self, harness: str, gw: Gateway, backend: Any, root: Path, scenario: Scenario, *,
                 side: str | None = None, placement: str = "agents_md", options: dict[str, Any] | None = None,
                 limits: AgentLimits | None = None):
        side = side or scenario.sides[0]
        self.condition = Condition(constraint=side, placement=placement)
        self.constraint = scenario.value(side).constraint
        self.ws = Workspace.create(root, scenario, self.condition)
        self.route = gw.open_route(backend, attempt_id=1, context=ScriptContext(scenario, side, self.ws.repo))
        (root / "agent").mkdir()
        self.session = AgentSession(
            workspace=self.ws.repo, base_url=gw.url_for(self.route), api_key=self.route.token,
            model=backend.model, placement=placement, constraint=self.constraint,
            limits=limits or AgentLimits(wall_time_s=120), scratch=root / "agent", options=dict(options or {}),
            gateway_socket=gw.socket_path)
        self.agent = create_agent(harness)

    async def step(self, i: int, prompt: str):
        self.route.step = i
        return await self.agent.step(i, prompt)


@pytest.fixture
def run_async() -> Callable:
    def go(coro, timeout: float = 400):
        return asyncio.run(asyncio.wait_for(coro, timeout))
    return go


def hang_then_continue(harness: str, tmp_path: Path, scenario: Scenario, wall_time_s: float = 15):
    """Step 1 against a model that never answers (stopped at ``wall_time_s``), step 2 against a working
    one (with a 120 s wall clock), in one session: (step 1's trace, step 2's trace)."""
    from tests.opencode.conftest import Misbehaving, scripted

    async def main():
        async with Gateway() as gw:
            run = Run(harness, gw, Misbehaving(scripted("comply"), hang={1}), tmp_path / "run", scenario,
                      limits=AgentLimits(wall_time_s=wall_time_s))
            await run.agent.start(run.session)
            try:
                hung = await run.step(1, scenario.spec.steps[0].prompt)
                # step 2 gets the usual wall clock: a busy machine must not turn "continues" into a time-out
                run.agent.session = dataclasses.replace(run.agent.session, limits=AgentLimits(wall_time_s=120))
                after = await run.step(2, scenario.spec.steps[1].prompt)
            finally:
                await run.agent.stop()
            return hung, after

    return asyncio.run(asyncio.wait_for(main(), 400))


def fail_then_continue(harness: str, tmp_path: Path, scenario: Scenario, retries: int = 1,
                       wall_time_s: float = 120):
    """Step 1 against a model that always fails (HTTP 502), step 2 against a working one, with
    ``model_retry_limit: retries``: (the steps each model call was made for, step 1's trace, step 2's)."""
    from tests.opencode.conftest import Misbehaving, scripted

    async def main():
        async with Gateway() as gw:
            backend = Misbehaving(scripted("comply"), fail={1})
            run = Run(harness, gw, backend, tmp_path / "run", scenario, options={"model_retry_limit": retries},
                      limits=AgentLimits(wall_time_s=wall_time_s))
            await run.agent.start(run.session)
            try:
                failed = await run.step(1, scenario.spec.steps[0].prompt)
                after = await run.step(2, scenario.spec.steps[1].prompt)
            finally:
                await run.agent.stop()
            return backend.calls, failed, after

    return asyncio.run(asyncio.wait_for(main(), 400))


def placement_run(harness: str, tmp_path: Path, scenario: Scenario, placement: str):
    """One step with the constraint at ``placement``: (the run, its trace, the recorded calls)."""
    from tests.opencode.conftest import scripted

    calls: list = []

    async def main():
        async with Gateway(recorder=calls.append) as gw:
            run = Run(harness, gw, scripted("comply"), tmp_path / "run", scenario, placement=placement)
            await run.agent.start(run.session)
            try:
                trace = await run.step(1, scenario.spec.steps[0].prompt)
            finally:
                await run.agent.stop()
            return run, trace

    run, trace = asyncio.run(asyncio.wait_for(main(), 400))
    return run, trace, calls


def programmed_run(harness: str, tmp_path: Path, scenario: Scenario, plan: dict):
    """One step of a model playing ``plan`` (tool calls, then "Done."): (the run, its trace)."""
    from tests.opencode.conftest import Programmed

    async def main():
        async with Gateway() as gw:
            run = Run(harness, gw, Programmed(plan), tmp_path / "run", scenario)
            await run.agent.start(run.session)
            try:
                return run, await run.step(1, "probe")
            finally:
                await run.agent.stop()

    return asyncio.run(asyncio.wait_for(main(), 400))
