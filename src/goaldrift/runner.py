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

A run's failure is recorded and counted, and the others go on. A store that cannot be written (disk
full) is different: every trial is stopped, what is stored stays, and the error is raised once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from goaldrift import __version__
from goaldrift.agents.registry import create_agent
from goaldrift.capacity import runs_that_fit
from goaldrift.errors import BadInput, ConfigError, StoreError
from goaldrift.experiment import Experiment, RunSpec, check_environment, plan
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import Backend, create_backend
from goaldrift.gateway.probe import probe_models
from goaldrift.provenance import git_revision
from goaldrift.step_result import StepResult
from goaldrift.store import RunnerLock, Store
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
    """Plans an experiment's runs, resumes what is unfinished, and schedules one ``Trial`` per run."""

    def __init__(self, exp: Experiment, store_path: Path, *, concurrency: int | None = None,
                 progress: bool = True, agent_factory: AgentFactory = create_agent):
        self.exp = exp
        self.store_path = Path(store_path).resolve()  # workspaces, git and harnesses need absolute paths
        self.concurrency = concurrency or exp.config.concurrency
        self.progress = progress
        self.agent_factory = agent_factory
        self.summary = RunSummary()

    def _bounded_concurrency(self) -> int:
        """The requested concurrency, lowered to the runs that fit in the memory available now."""
        harness = self.exp.config.agent.harness
        fit = runs_that_fit(harness)
        if fit is not None and fit < self.concurrency:
            note = (f"running {fit} {harness} runs at once, not {self.concurrency}: only {fit} fit in the "
                    "memory available (`goaldrift doctor` shows the numbers); the others queue")
            logging.getLogger("goaldrift.runner").warning(note)
            self.summary.notes.append(note)
            return fit
        return self.concurrency

    async def run(self) -> RunSummary:
        specs = plan(self.exp)
        backends = await self._create_backends()
        with _run_log(self.store_path, self.exp.experiment_id), RunnerLock(self.store_path):
            store = Store(self.store_path)
            try:
                return await self._run(store, specs, backends)
            finally:
                for b in backends.values():
                    with contextlib.suppress(Exception):
                        await b.aclose()
                store.close()

    async def _create_backends(self) -> dict[str, Backend]:
        """One backend per model entry, before anything is written: a model that cannot be served
        (its file missing, its key unset) is bad input naming the entry (exit 2)."""
        backends: dict[str, Backend] = {}
        for i, m in enumerate(self.exp.config.models):
            try:
                backends[m.id] = create_backend(m)
            except BadInput as exc:
                for b in backends.values():
                    with contextlib.suppress(Exception):
                        await b.aclose()
                raise ConfigError(f"{self.exp.path or '<experiment>'}: models[{i}] ({m.id}): {exc}") from None
        return backends

    async def _run(self, store: Store, specs: list[RunSpec], backends: dict[str, Backend]) -> RunSummary:
        cfg = self.exp.config
        store.upsert_experiment(self.exp.experiment_id, cfg.name, cfg.model_dump(mode="json"),
                                self.exp.config_hash, __version__, git_revision())
        store.plan_runs(self.exp.experiment_id, [s.store_row() for s in specs])
        self.summary.aborted_before = store.abort_stale_attempts()
        status = store.run_status([s.run_id for s in specs])
        todo = [s for s in specs if status.get(s.run_id) != "finished"]
        self.summary.planned, self.summary.skipped = len(specs), len(specs) - len(todo)
        self.summary.concurrency = self._bounded_concurrency()
        semaphore = asyncio.Semaphore(self.summary.concurrency)
        workspaces = store.workspaces_dir()
        recorder = _StoreRecorder(store)
        rate_limits = {m.id: m.rate_limit for m in cfg.models if m.rate_limit is not None}

        async with Gateway(recorder=recorder, rate_limits=rate_limits) as gateway:
            with _Progress(sum(s.n_steps for s in todo), self.progress) as progress:

                def on_step(spec: RunSpec, result: StepResult) -> None:
                    self.summary.steps += 1
                    progress.advance(f"{spec.model.id} {spec.scenario.id} {spec.condition.name} #{spec.repeat} "
                                     f"step {result.step}")

                async def guarded(spec: RunSpec) -> None:
                    async with semaphore:
                        recorder.check()
                        trial = Trial(spec, store=store, gateway=gateway, backend=backends[spec.model.id],
                                      workspaces=workspaces, agent_factory=self.agent_factory, on_step=on_step,
                                      completion=cfg.completion)
                        result = await trial.run()
                    if result.status == "finished":
                        self.summary.finished += 1
                    else:
                        self.summary.failed += 1
                        self.summary.errors.append(result.error or result.run_id)

                # A store that cannot be written (disk full) stops every trial: the first such error
                # cancels the rest and is raised once.
                try:
                    async with asyncio.TaskGroup() as group:
                        for s in todo:
                            group.create_task(guarded(s))
                except* StoreError as failed:
                    raise failed.exceptions[0] from None
        recorder.check()
        return self.summary


class _StoreRecorder:
    """The gateway's recorder: stores each model call; remembers a failed write instead of raising it
    inside the gateway (where it would only cost that one call), so the runner can stop cleanly."""

    def __init__(self, store: Store):
        self.store = store
        self.failure: StoreError | None = None

    def __call__(self, record) -> None:
        if self.failure is not None:
            return
        try:
            self.store.record_call(record)
        except StoreError as exc:
            self.failure = exc

    def check(self) -> None:
        if self.failure is not None:
            raise self.failure


def run_experiment(exp: Experiment, store_path: Path, *, concurrency: int | None = None,
                   progress: bool = True) -> RunSummary:
    """Synchronous entry point (the CLI's)."""
    check_environment(exp)  # keys and sandbox: exit 2 before the log file or the store exist
    asyncio.run(probe_models(exp.config.models))  # unreachable endpoints are exit 2, nothing written
    return asyncio.run(Runner(exp, Path(store_path), concurrency=concurrency, progress=progress).run())


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
