"""The runner: plans an experiment's runs, resumes the unfinished ones, and schedules their trials.

Resumability is the point. The store holds every planned run with a stable id; a run counts only
when one of its attempts finished. Starting the runner marks attempts that a dead runner left
``running`` as ``aborted`` (kept, excluded from results), and every unfinished run is started again
from step 1 in a fresh workspace. One attempt is a ``Trial`` (trial.py); each finished step is
written in one transaction, so ``kill -9`` at any moment loses at most the step in flight and never
duplicates one.

Up to ``concurrency`` trials run at once on one event loop: they wait on model calls, so one process
serves dozens. The memory they need bounds that number (``capacity.runs_that_fit``: OpenCode runs are
~700 MB each), and per-model rate limits are the gateway's, shared by every run. Every store write
happens on the event loop, through the one ``Store`` connection: SQLite has one writer, and the
work a trial moves off the loop (creating its workspace, scoring a step) writes nothing to the store.

Where the trials run is the executor's business: here on one event loop (``local``), or on a Ray
cluster (``ray``, cluster.py), whose nodes stream every store write back to this process. Both report
to one ``Ledger`` — progress display, summary, model calls — so the store, resume and what the user
sees are the same either way.

A run's failure is recorded and counted, and the others go on. A store that cannot be written (disk
full) is different: every trial is stopped, what is stored stays, and the error is raised once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from goaldrift import __version__
from goaldrift.agents.registry import create_agent
from goaldrift.capacity import runs_that_fit
from goaldrift.errors import BadInput, ConfigError, StoreError
from goaldrift.experiment import Executor, Experiment, RunSpec, check_environment, plan
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import Backend, create_backend
from goaldrift.gateway.probe import probe_models
from goaldrift.gateway.record import CallRecord
from goaldrift.progress import Progress
from goaldrift.provenance import git_revision
from goaldrift.step_result import StepResult
from goaldrift.store import RunnerLock, Store, check_store_path
from goaldrift.trial import AgentFactory, Trial


@dataclass
class RunSummary:
    planned: int = 0
    skipped: int = 0
    finished: int = 0
    failed: int = 0
    steps: int = 0
    aborted_before: int = 0
    concurrency: int = 1  # trials run at once, after the memory bound
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the user should know, printed with the summary

    @property
    def complete(self) -> bool:
        """Every planned run has finished (now or before)."""
        return self.skipped + self.finished == self.planned


class Runner:
    """Plans an experiment's runs, resumes what is unfinished, and schedules one ``Trial`` per run."""

    def __init__(self, exp: Experiment, store_path: Path, *, concurrency: int | None = None,
                 progress: bool = True, agent_factory: AgentFactory = create_agent,
                 executor: Executor | None = None, address: str | None = None):
        self.exp = exp
        self.store_path = Path(store_path).resolve()  # workspaces, git and harnesses need absolute paths
        self.concurrency = concurrency or exp.config.concurrency
        self.executor = executor or exp.config.executor
        self.address = address  # of a Ray cluster; None: RAY_ADDRESS, else a cluster started on this machine
        self.progress = progress
        self.agent_factory = agent_factory
        self.summary = RunSummary()

    def _bounded_concurrency(self) -> int:
        """The requested concurrency, lowered to the runs that fit in the memory available now (of the
        most memory-hungry harness, when the experiment compares several)."""
        fits = [(fit, a.harness) for a in self.exp.config.agents if (fit := runs_that_fit(a.harness)) is not None]
        fit, harness = min(fits) if fits else (None, "")
        if fit is not None and fit < self.concurrency:
            note = (f"running {fit} {harness} runs at once, not {self.concurrency}: only {fit} fit in the "
                    "memory available (`goaldrift doctor` shows the numbers); the others queue")
            logging.getLogger("goaldrift.runner").warning(note)
            self.summary.notes.append(note)
            return fit
        return self.concurrency

    async def run(self) -> RunSummary:
        check_store_path(self.store_path)  # exit 2 before a Ray cluster, the backends or any file exist
        specs = plan(self.exp)
        if self.executor == "ray":
            from goaldrift.cluster import RayExecutor

            # The hosts check their nodes (keys, sandbox, packs) before anything is written.
            async with RayExecutor(self.exp, self.concurrency, address=self.address,
                                   agent_factory=self.agent_factory) as ray_executor:
                return await self._locked(specs, ray_executor.execute)
        backends = await create_backends(self.exp)  # before anything is written (exit 2)
        try:
            return await self._locked(specs, lambda todo, ledger: self._execute_local(todo, ledger, backends))
        finally:
            for b in backends.values():
                with contextlib.suppress(Exception):
                    await b.aclose()

    async def _locked(self, specs: list[RunSpec], execute: Execute) -> RunSummary:
        with _run_log(self.store_path, self.exp.experiment_id), RunnerLock(self.store_path):
            store = Store(self.store_path)
            try:
                return await self._run(store, specs, execute)
            finally:
                store.close()

    async def _run(self, store: Store, specs: list[RunSpec], execute: Execute) -> RunSummary:
        cfg = self.exp.config
        store.upsert_experiment(self.exp.experiment_id, cfg.name, cfg.model_dump(mode="json"),
                                self.exp.config_hash, __version__, git_revision())
        store.plan_runs(self.exp.experiment_id, [s.store_row() for s in specs])
        self.summary.aborted_before = store.abort_stale_attempts()
        status = store.run_status([s.run_id for s in specs])
        todo = [s for s in specs if status.get(s.run_id) != "finished"]
        self.summary.planned, self.summary.skipped = len(specs), len(specs) - len(todo)
        with Progress(cfg.models, len(todo), sum(s.n_steps for s in todo), self.progress) as progress:
            ledger = Ledger(store, progress, self.summary)
            await execute(todo, ledger)
        ledger.check()
        return self.summary

    async def _execute_local(self, todo: list[RunSpec], ledger: Ledger, backends: dict[str, Backend]) -> None:
        self.summary.concurrency = self._bounded_concurrency()
        semaphore = asyncio.Semaphore(self.summary.concurrency)
        store = ledger.store
        workspaces = store.workspaces_dir()
        rate_limits = {m.id: m.rate_limit for m in self.exp.config.models if m.rate_limit is not None}

        async with Gateway(recorder=ledger.record_call, rate_limits=rate_limits) as gateway:

            async def guarded(spec: RunSpec) -> None:
                async with semaphore:
                    ledger.check()
                    trial = Trial(spec, store=store, gateway=gateway, backend=backends[spec.model.id],
                                  workspaces=workspaces, agent_factory=self.agent_factory,
                                  on_attempt=ledger.attempt_started, on_step=ledger.step_stored,
                                  completion=self.exp.config.completion)
                    result = await trial.run()
                ledger.run_done(result.status == "finished", result.error or result.run_id)

            # A store that cannot be written (disk full) stops every trial: the first such error
            # cancels the rest and is raised once.
            try:
                async with asyncio.TaskGroup() as group:
                    for s in todo:
                        group.create_task(guarded(s))
            except* StoreError as failed:
                raise failed.exceptions[0] from None


Execute = Callable[[list[RunSpec], "Ledger"], Awaitable[None]]  # runs the trials of the runs to do


async def create_backends(exp: Experiment) -> dict[str, Backend]:
    """One backend per model entry of ``exp``; a model that cannot be served is a ``ConfigError``
    naming the entry (exit 2). Used by the local runner and by each Ray host on its node."""
    backends: dict[str, Backend] = {}
    for i, m in enumerate(exp.config.models):
        try:
            backends[m.id] = create_backend(m)
        except BadInput as exc:
            for b in backends.values():
                with contextlib.suppress(Exception):
                    await b.aclose()
            raise ConfigError(f"{exp.path or '<experiment>'}: models[{i}] ({m.id}): {exc}") from None
    return backends


class Ledger:
    """The driver's one store writer's bookkeeping: what every executor reports as it happens —
    an attempt opened, a model call, a step stored, a run done — goes to the store (calls), the
    summary and the progress display. A model call that cannot be stored is remembered instead of
    raised inside the gateway (where it would only cost that one call), so the runner stops cleanly."""

    def __init__(self, store: Store, progress: Progress, summary: RunSummary):
        self.store, self.progress, self.summary = store, progress, summary
        self.failure: StoreError | None = None

    def attempt_started(self, spec: RunSpec, attempt_id: int) -> None:
        self.progress.attempt_started(attempt_id, spec.model.id)

    def record_call(self, record: CallRecord) -> None:
        if self.failure is not None:
            return
        try:
            self.store.record_call(record)
        except StoreError as exc:
            self.failure = exc
            return
        self.progress.call(record)

    def step_stored(self, spec: RunSpec, result: StepResult) -> None:
        self.summary.steps += 1
        self.progress.step(f"{spec.model.id} {spec.scenario.id} {spec.condition.name} #{spec.repeat} "
                           f"step {result.step}")

    def run_done(self, finished: bool, error: str) -> None:
        if finished:
            self.summary.finished += 1
        else:
            self.summary.failed += 1
            self.summary.errors.append(error)
        self.progress.run_done(failed=not finished)

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure


def run_experiment(exp: Experiment, store_path: Path, *, concurrency: int | None = None,
                   progress: bool = True, executor: Executor | None = None,
                   address: str | None = None) -> RunSummary:
    """Synchronous entry point (the CLI's)."""
    check_store_path(store_path)  # a foreign or old store is exit 2 before the probes build backends
    runner = Runner(exp, Path(store_path), concurrency=concurrency, progress=progress, executor=executor,
                    address=address)
    if address is not None and runner.executor != "ray":
        raise BadInput("--address is a Ray cluster's: use it with --executor ray (or `executor: ray`)")
    if runner.executor == "local":
        # Keys and sandbox are this machine's business only when the trials run here; on Ray each
        # node's host checks its own before anything is written.
        check_environment(exp)  # exit 2 before the log file or the store exist
        asyncio.run(probe_models(exp.config.models))  # unreachable endpoints are exit 2, nothing written
    return asyncio.run(runner.run())


@contextlib.contextmanager
def _run_log(store_path: Path, experiment_id: str) -> Iterator[None]:
    """goaldrift's log records go to ``<store folder>/logs/<experiment id>.jsonl`` while the runner runs."""
    log_dir = store_path.parent / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    handler = _LogFile(log_dir / f"{experiment_id}.jsonl")
    handler.setFormatter(_JsonFormatter())
    root = logging.getLogger("goaldrift")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


class _LogFile(logging.FileHandler):
    """The run log. When it cannot be written (disk full) it goes quiet instead of printing a
    traceback per record: the store's own error says what happened, once."""

    def handleError(self, record: logging.LogRecord) -> None:
        pass


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"t": round(record.created, 3), "level": record.levelname, "logger": record.name,
                           "msg": record.getMessage()})
