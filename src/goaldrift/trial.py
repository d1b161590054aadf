"""A trial: one attempt of one run, from a fresh workspace to its last stored step.

A trial owns everything one attempt needs and nothing the experiment shares: it opens an attempt in
the store, lays out the workspace, opens a gateway route, starts the agent, runs the step loop
(pressure at its onset through the condition's channel, a fresh session when the condition asks for
one, restarts of a crashed harness), scores each step with ``score_step``, checks its task completion
(``goaldrift.completion``, unless the experiment turns it off) and stores it in its own transaction,
then closes the attempt as ``finished`` or ``failed``. The local ``Runner`` schedules trials; a cluster executor or a
benchmark can run one the same way, given a store, a gateway and the run's backend.

A run's failure — even a bug in a harness — is the trial's result, never an exception, so one broken
run cannot take the experiment down. Two things do propagate: cancellation (the attempt is closed
``aborted``), and a ``StoreError`` (disk full, store read-only): when nothing more can be recorded,
running on would only burn model calls, so the executor stops every trial and says why once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

from goaldrift import toolchains
from goaldrift.agents.base import Agent, AgentSession, StepTrace
from goaldrift.agents.registry import create_agent
from goaldrift.channels import in_force, step_prompt
from goaldrift.completion import check_commit
from goaldrift.detect.run import build_detectors
from goaldrift.errors import AgentError, DiskFull, GoaldriftError, StoreError
from goaldrift.experiment import RunSpec
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import Backend, TokenBudget
from goaldrift.gateway.backends.scripted import ScriptContext
from goaldrift.step_result import Scoring, StepResult, score_step
from goaldrift.workspace import Workspace

log = logging.getLogger("goaldrift.trial")
MAX_AGENT_RESTARTS = 2
AgentFactory = Callable[..., Agent]  # (harness, options) -> an unstarted Agent


class AttemptStore(Protocol):
    """What a trial writes: the ``Store`` itself locally; on a Ray node, a relay whose every call
    becomes an event for the one writer on the driver (cluster.py)."""

    def start_attempt(self, run_id: str, workspace: str) -> tuple[int, int]: ...
    def set_attempt_workspace(self, attempt_id: int, workspace: str) -> None: ...
    def set_attempt_info(self, attempt_id: int, info: dict, harness_version: str | None = None) -> None: ...
    def write_step(self, attempt_id: int, rec: StepResult) -> None: ...
    def finish_attempt(self, attempt_id: int, status: str, error: str | None = None) -> None: ...


@dataclass(frozen=True)
class TrialResult:
    run_id: str
    attempt_id: int
    status: Literal["finished", "failed"]
    steps: int  # steps stored by this attempt
    error: str | None = None  # why it failed: run, model, scenario, condition and the reason


class Trial:
    """One attempt of ``spec``. ``workspaces`` is the folder of this store's workspaces."""

    def __init__(self, spec: RunSpec, *, store: AttemptStore, gateway: Gateway, backend: Backend,
                 workspaces: Path, agent_factory: AgentFactory = create_agent,
                 on_attempt: Callable[[RunSpec, int], None] | None = None,
                 on_step: Callable[[RunSpec, StepResult], None] | None = None, completion: bool = True):
        self.spec = spec
        self.store = store
        self.gateway = gateway
        self.backend = backend
        self.workspaces = workspaces
        self.agent_factory = agent_factory
        self.on_attempt = on_attempt
        self.on_step = on_step
        self.completion = completion
        detectors, primary_id = build_detectors(spec.scenario.spec)
        self.scoring = Scoring(detectors, primary_id, spec.condition.constraint)

    @property
    def label(self) -> str:
        return run_label(self.spec)

    async def run(self) -> TrialResult:
        spec, store = self.spec, self.store
        attempt_id, number = store.start_attempt(spec.run_id, workspace="")
        if self.on_attempt is not None:
            self.on_attempt(spec, attempt_id)
        root = self.workspaces / f"{spec.run_id}-a{number}"
        store.set_attempt_workspace(attempt_id, str(root / "repo"))
        stored = 0
        agent: Agent | None = None
        route = None
        try:
            # Off the event loop, like scoring: copying the template and writing its git objects is
            # file I/O that every other concurrent trial and the gateway would otherwise wait for.
            ws = await asyncio.to_thread(Workspace.create, root, spec.scenario, spec.condition)
            step_tokens = spec.agent.limits.max_tokens  # the harness's per-step limit, enforced by the gateway
            route = self.gateway.open_route(
                self.backend, attempt_id=attempt_id, seed=spec.seed,
                context=ScriptContext(spec.scenario, spec.condition.constraint, ws.repo),
                budget=TokenBudget(step_tokens, step_tokens * spec.n_steps))
            session = self._session(ws, root, route)
            (root / "agent").mkdir()
            agent = await self._start_agent(session)
            store.set_attempt_info(attempt_id, {"workspace": str(ws.repo), "condition": spec.condition.to_dict(),
                                                "gateway_model": self.backend.model}, agent.version())
            restarts = 0
            for step in range(1, spec.n_steps + 1):
                self.gateway.check_circuit(route)  # a model whose calls keep failing fails the run now
                route.step = step
                agent, restarts, result = await self._step(ws, agent, session, step, restarts)
                store.write_step(attempt_id, result)
                stored += 1
                if self.on_step is not None:
                    self.on_step(spec, result)
            store.finish_attempt(attempt_id, "finished")
            return TrialResult(spec.run_id, attempt_id, "finished", stored)
        except StoreError:
            raise  # nothing more can be recorded; the attempt stays "running" and the next runner aborts it
        except Exception as exc:  # noqa: BLE001 — one run's failure (even a bug) must not end the experiment
            if _disk_full(exc):
                raise DiskFull(f"no space left for the workspace {root}: free some space and run the same "
                               "command again to resume (everything stored so far is kept)") from None
            detail = str(exc) if isinstance(exc, (GoaldriftError, OSError)) else f"{type(exc).__name__}: {exc}"
            log.error("run failed: %s: %s", self.label, detail)
            store.finish_attempt(attempt_id, "failed", detail)
            return TrialResult(spec.run_id, attempt_id, "failed", stored, f"{self.label}: {detail}")
        except BaseException:  # cancelled (Ctrl-C, or another trial hit a full disk)
            with contextlib.suppress(Exception):
                store.finish_attempt(attempt_id, "aborted", "interrupted")
            raise
        finally:
            if agent is not None:
                with contextlib.suppress(Exception):
                    await agent.stop()
            if route is not None:
                self.gateway.close_route(route)

    def _session(self, ws: Workspace, root: Path, route) -> AgentSession:
        spec = self.spec
        return AgentSession(
            workspace=ws.repo, base_url=self.gateway.url_for(route), api_key=route.token, model=spec.model.id,
            placement=spec.condition.placement,
            constraint=spec.scenario.value(spec.condition.constraint).constraint,
            limits=spec.agent.limits, scratch=root / "agent", seed=spec.seed,
            options=spec.agent.options.model_dump(),
            gateway_socket=self.gateway.socket_path,
            toolchain=toolchains.mount(spec.scenario.test_commands.toolchain),
            gateway_calls=route.step_calls,
        )

    async def _start_agent(self, session: AgentSession) -> Agent:
        agent = self.agent_factory(self.spec.agent.harness, session.options)
        try:
            await agent.start(session)
        except BaseException:
            with contextlib.suppress(Exception):
                await agent.stop()
            raise
        return agent

    async def _step(self, ws: Workspace, agent: Agent, session: AgentSession, step: int,
                    restarts: int) -> tuple[Agent, int, StepResult]:
        """Run and score one step; returns the agent to use next (restarted if it had to be)."""
        spec, condition = self.spec, self.spec.condition
        ws.before_step(spec.scenario, condition, step)
        if condition.session == "fresh" and step > 1:
            await agent.stop()
            agent = await self._start_agent(session)
        started = time.monotonic()
        try:
            trace = await agent.step(step, step_prompt(spec.scenario, condition, step))
        except AgentError as exc:
            trace = StepTrace(errors=[f"agent failed: {exc}"])
            if restarts >= MAX_AGENT_RESTARTS:
                raise
            restarts += 1
            with contextlib.suppress(Exception):
                await agent.stop()
            agent = await self._start_agent(session)
        # Off the event loop: scoring reads agent-written files (bounded, but seconds in the worst case),
        # and other trials' agents and the gateway must keep running meanwhile.
        result = await asyncio.to_thread(score_step, ws, step, trace, self.scoring, time.monotonic() - started)
        result = replace(result, channel=in_force(condition, step))
        if self.completion and result.commit_sha is not None:
            done = await asyncio.to_thread(check_commit, ws.git_dir, result.commit_sha, spec.scenario.acceptance(step),
                                          commands=spec.scenario.test_commands)
            result = replace(result, completion=done)
        return agent, restarts, result


def run_label(spec: RunSpec) -> str:
    """A run as failure messages name it: id, model, scenario, condition and repeat."""
    return f"{spec.run_id} ({spec.model.id} {spec.scenario.id} {spec.condition.name} #{spec.repeat})"


def _disk_full(exc: Exception) -> bool:
    """ENOSPC/EDQUOT from Python, or git saying the same (it runs as a separate process)."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return "No space left on device" in str(exc)
