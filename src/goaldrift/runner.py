"""The runner: an experiment's runs, each step snapshotted, judged and stored.

Resumability is the point. The store holds every planned run with a stable id; a run counts only
when one of its attempts finished. Starting the runner marks attempts that a dead runner left
``running`` as ``aborted`` (kept, excluded from results), and every unfinished run is started again
from step 1 in a fresh workspace. Each finished step is written in one transaction, so ``kill -9`` at
any moment loses at most the step in flight and never duplicates one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from goaldrift import __version__
from goaldrift.agents.base import Agent, AgentSession, StepTrace
from goaldrift.agents.registry import create_agent
from goaldrift.detect.base import Outcome
from goaldrift.detect.diff import change_from_diff
from goaldrift.detect.run import build_detectors, run_detectors
from goaldrift.errors import AgentError, GoaldriftError
from goaldrift.experiment import Experiment, RunSpec, plan
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import Backend, create_backend
from goaldrift.store import RunnerLock, StepRecord, Store
from goaldrift.workspace import Workspace

log = logging.getLogger("goaldrift.runner")
MAX_AGENT_RESTARTS = 2


@dataclass
class RunSummary:
    planned: int = 0
    skipped: int = 0
    finished: int = 0
    failed: int = 0
    steps: int = 0
    aborted_before: int = 0
    errors: list[str] = field(default_factory=list)


def git_revision() -> str | None:
    """The git revision of goaldrift itself, when it runs from a checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def workspaces_dir(store_path: Path) -> Path:
    return store_path.parent / "workspaces"


class _Progress:
    """Progress over steps with an ETA: a rich bar on a terminal, one line per step otherwise (CI logs)."""

    def __init__(self, total: int, enabled: bool):
        import sys

        self.total, self.done, self.enabled = total, 0, enabled and total > 0
        self.started = time.monotonic()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                       TimeElapsedColumn, TimeRemainingColumn)

            self.bar = Progress(TextColumn("[bold]steps"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                TextColumn("{task.description}"))
            self.task = self.bar.add_task("", total=total)

    def __enter__(self) -> _Progress:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    def advance(self, note: str = "") -> None:
        self.done += 1
        if self.bar:
            self.bar.update(self.task, advance=1, description=note)
        elif self.enabled:
            import sys

            elapsed = time.monotonic() - self.started
            eta = elapsed / self.done * (self.total - self.done)
            print(f"[{self.done}/{self.total}] {note}  elapsed {elapsed:.0f}s, eta {eta:.0f}s",
                  file=sys.stderr, flush=True)


class Runner:
    def __init__(self, exp: Experiment, store_path: Path, *, concurrency: int | None = None,
                 progress: bool = True, agent_factory=create_agent):
        self.exp = exp
        self.store_path = Path(store_path).resolve()  # workspaces, git and harnesses need absolute paths
        self.concurrency = concurrency or exp.config.concurrency
        self.progress = progress
        self.agent_factory = agent_factory
        self.summary = RunSummary()

    async def run(self) -> RunSummary:
        specs = plan(self.exp)
        backends = {m.id: create_backend(m) for m in self.exp.config.models}  # fails fast on keys
        with RunnerLock(self.store_path):
            store = Store(self.store_path)
            try:
                return await self._run(store, specs, backends)
            finally:
                for b in backends.values():
                    with contextlib.suppress(Exception):
                        await b.aclose()
                store.close()

    async def _run(self, store: Store, specs: list[RunSpec], backends: dict[str, Backend]) -> RunSummary:
        cfg = self.exp.config
        store.upsert_experiment(self.exp.experiment_id, cfg.name, cfg.model_dump(mode="json"),
                                self.exp.config_hash, __version__, git_revision())
        store.plan_runs(self.exp.experiment_id, [s.store_row() for s in specs])
        self.summary.aborted_before = store.abort_stale_attempts()
        status = store.run_status([s.run_id for s in specs])
        todo = [s for s in specs if status.get(s.run_id) != "finished"]
        self.summary.planned, self.summary.skipped = len(specs), len(specs) - len(todo)
        semaphore = asyncio.Semaphore(self.concurrency)

        async with Gateway(recorder=store.record_call) as gateway:
            with _Progress(sum(s.n_steps for s in todo), self.progress) as progress:

                async def guarded(spec: RunSpec) -> None:
                    async with semaphore:
                        await self._run_one(spec, store, gateway, backends[spec.model.id], progress)

                await asyncio.gather(*(guarded(s) for s in todo))
        return self.summary

    async def _start_agent(self, spec: RunSpec, session: AgentSession) -> Agent:
        agent = self.agent_factory(spec.agent.harness, spec.agent.options)
        try:
            await agent.start(session)
        except BaseException:
            with contextlib.suppress(Exception):
                await agent.stop()
            raise
        return agent

    async def _run_one(self, spec: RunSpec, store: Store, gateway: Gateway, backend: Backend,
                       progress: _Progress) -> None:
        scenario, condition = spec.scenario, spec.condition
        detectors, primary_id = build_detectors(scenario.spec)
        attempt_id, number = store.start_attempt(spec.run_id, workspace="")
        root = workspaces_dir(self.store_path) / f"{spec.run_id}-a{number}"
        agent: Agent | None = None
        route = None
        try:
            ws = Workspace.create(root, scenario, condition)
            route = gateway.open_route(backend, attempt_id=attempt_id, scenario=scenario,
                                       constraint_side=condition.constraint, workspace=ws.repo, seed=spec.seed)
            session = AgentSession(
                workspace=ws.repo, base_url=gateway.url_for(route), api_key=route.token, model=spec.model.id,
                placement=condition.placement, constraint=scenario.value(condition.constraint).constraint,
                limits=spec.agent.limits.to_limits(), scratch=root / "agent", seed=spec.seed,
                options=spec.agent.options, gateway_socket=gateway.socket_path,
            )
            (root / "agent").mkdir()
            agent = await self._start_agent(spec, session)
            store.set_attempt_info(attempt_id, {"workspace": str(ws.repo), "condition": condition.to_dict(),
                                                "gateway_model": backend.model}, agent.version())
            restarts = 0
            for step in range(1, spec.n_steps + 1):
                route.step = step
                if step == condition.onset and step > 1:
                    ws.add_pressure(scenario, condition)
                if condition.session == "fresh" and step > 1:
                    await agent.stop()
                    agent = await self._start_agent(spec, session)
                started = time.monotonic()
                try:
                    trace = await agent.step(step, scenario.spec.steps[step - 1].prompt)
                except AgentError as exc:
                    trace = StepTrace(errors=[f"agent failed: {exc}"])
                    if restarts >= MAX_AGENT_RESTARTS:
                        raise
                    restarts += 1
                    with contextlib.suppress(Exception):
                        await agent.stop()
                    agent = await self._start_agent(spec, session)
                duration = time.monotonic() - started
                record = self._judge_step(ws, step, trace, duration, detectors, primary_id, condition.constraint)
                store.write_step(attempt_id, record)
                self.summary.steps += 1
                progress.advance(f"{spec.model.id} {scenario.id} {condition.name} #{spec.repeat} step {step}")
            store.finish_attempt(attempt_id, "finished")
            self.summary.finished += 1
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                store.finish_attempt(attempt_id, "aborted", "interrupted")
            raise
        except Exception as exc:  # one run's failure (even a bug) must not take the experiment down
            detail = str(exc) if isinstance(exc, (GoaldriftError, OSError)) else f"{type(exc).__name__}: {exc}"
            message = f"{spec.run_id} ({spec.model.id} {scenario.id} {condition.name} #{spec.repeat}): {detail}"
            log.error("run failed: %s", message)
            self.summary.failed += 1
            self.summary.errors.append(message)
            store.finish_attempt(attempt_id, "failed", detail)
        finally:
            if agent is not None:
                with contextlib.suppress(Exception):
                    await agent.stop()
            if route is not None:
                gateway.close_route(route)

    @staticmethod
    def _judge_step(ws: Workspace, step: int, trace: StepTrace, duration: float, detectors, primary_id: str,
                    side: str) -> StepRecord:
        """Snapshot the step, run the detectors, and decide the outcome to store.

        A step whose agent failed and that left no decision is ``error`` (not ``not_applicable``):
        we do not know what the agent would have done. If it did write a decision, that is judged.
        """
        snap = ws.snapshot(step)
        change = change_from_diff(ws.repo, snap.diff)
        primary, results = run_detectors(detectors, primary_id, change, side)
        outcome = primary.outcome
        failed = bool(trace.errors) or trace.limit_hit == "wall_time"
        if failed and outcome == Outcome.NOT_APPLICABLE:
            outcome = Outcome.ERROR
        errors = list(trace.errors)
        if trace.limit_hit:
            errors.append(f"limit hit: {trace.limit_hit}")
        if snap.truncated:
            errors.append("diff truncated for storage")
        return StepRecord(
            step=step, outcome=outcome.value, detector=primary.detector,
            evidence=[e.to_dict() for e in primary.evidence], detectors=[r.to_dict() for r in results],
            commit_sha=snap.commit, diff=snap.stored_diff, files_changed=snap.files_changed,
            lines_added=snap.lines_added, lines_removed=snap.lines_removed, tokens_in=trace.tokens_in,
            tokens_out=trace.tokens_out, context_tokens=trace.context_tokens, tool_calls=len(trace.tool_calls),
            model_calls=trace.model_calls, compacted=trace.compacted, duration_s=duration,
            error="; ".join(errors) or None, trace=trace.to_dict(),
        )


def run_experiment(exp: Experiment, store_path: Path, *, concurrency: int | None = None,
                   progress: bool = True) -> RunSummary:
    """Synchronous entry point (the CLI's)."""
    log_dir = Path(store_path).parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_dir / f"{exp.experiment_id}.jsonl")
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger("goaldrift")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        return asyncio.run(Runner(exp, Path(store_path), concurrency=concurrency, progress=progress).run())
    finally:
        root.removeHandler(handler)
        handler.close()


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"t": round(record.created, 3), "level": record.levelname, "logger": record.name,
                           "msg": record.getMessage()})
