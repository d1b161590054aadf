"""The Ray executor: an experiment's trials on a Ray cluster, its store on the driver.

Why this shape. A study of 10⁴–10⁵ steps outgrows one machine's memory (an OpenCode run is ~700 MB),
not its cores; what must not change is the store as the single source of truth and resume as it is
locally. So:

- **One host per node.** A ``TrialHost`` Ray actor on every node runs trials as the local runner does
  — up to ``concurrency`` at once on one event loop, bounded by that node's memory
  (``capacity.runs_that_fit``) — with its own gateway and model backends. Model calls therefore go out
  from the node the agent runs on, and API keys are read there, from the node's environment (the
  worker's own, or the job's ``runtime_env`` ``env_vars``): they are never task arguments, which Ray
  logs. A per-model rate limit holds per node (each node's gateway keeps it).
- **A task gets only what names the work.** The host rebuilds the experiment from its configuration
  and the packs on its node and plans it; a task is ``(run id, attempt id, attempt number)``. A node
  whose packs or goaldrift differ plans other run ids, and the task fails saying so, instead of
  running something else under that id.
- **One writer, on the driver.** Each attempt is a streaming actor task: everything the trial would
  write to the store (workspace, info, each step, each model call, the attempt's end) comes back as
  an event, and the driver applies it to the store on its event loop, the same ``Ledger`` as the local
  runner (progress, summary). The driver opens the attempt before sending the task, so an attempt
  whose worker dies is in the store as ``running``.
- **Faults.** A worker process or node lost mid-attempt ends the stream with a Ray error: the driver
  marks that attempt ``aborted`` (its stored steps stay, excluded from results, as locally) and queues
  the run again; Ray restarts the host (on another node if its node is gone). A run that loses its
  worker ``MAX_LOST_ATTEMPTS`` times fails instead of looping. A driver killed takes its hosts with it
  (Ray ends the actors of a dead job); the next ``goaldrift run`` aborts its ``running`` attempts and
  reruns them, as locally. Ray's own task retries are off: replaying a stream would write steps twice.

``ray`` is an optional extra (``pip install 'goaldrift[ray]'``); nothing imports it until an
experiment asks for this executor.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Self

from goaldrift.agents.registry import create_agent
from goaldrift.capacity import runs_that_fit
from goaldrift.errors import BadInput, ConfigError, GoaldriftError
from goaldrift.experiment import Experiment, RunSpec, check_environment, experiment_from_dict, plan
from goaldrift.gateway.record import CallRecord
from goaldrift.trial import Trial, run_label

if TYPE_CHECKING:
    from goaldrift.gateway.app import Gateway
    from goaldrift.gateway.backends import Backend
    from goaldrift.runner import Ledger
    from goaldrift.step_result import StepResult

MAX_LOST_ATTEMPTS = 3  # attempts of one run whose worker was lost before the run counts as failed
HOST_RESTART_S = 120  # how long the driver waits for Ray to bring a lost host back
# What a host may ask the driver to write; anything else in a stream is a bug and fails the run.
RELAYED = ("set_attempt_workspace", "set_attempt_info", "write_step", "finish_attempt", "record_call")


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor ray: Ray is not installed: pip install 'goaldrift[ray]' (on the driver "
                          "and on every node), or use the local executor") from None
    return ray


class _Relay:
    """The store a trial on a node writes to: each call becomes an event on the attempt's stream."""

    def __init__(self, attempt_id: int, number: int):
        self.attempt_id, self.number = attempt_id, number
        self.events: asyncio.Queue[tuple[str, tuple] | None] = asyncio.Queue()

    def start_attempt(self, run_id: str, workspace: str) -> tuple[int, int]:
        return self.attempt_id, self.number  # opened by the driver before the task was sent

    def set_attempt_workspace(self, attempt_id: int, workspace: str) -> None:
        self.events.put_nowait(("set_attempt_workspace", (attempt_id, workspace)))

    def set_attempt_info(self, attempt_id: int, info: dict, harness_version: str | None = None) -> None:
        # Which node and process ran the attempt: to find its workspace, and its worker in a test.
        node = {"node": socket.gethostname(), "pid": os.getpid()}
        self.events.put_nowait(("set_attempt_info", (attempt_id, {**info, **node}, harness_version)))

    def write_step(self, attempt_id: int, rec: StepResult) -> None:
        self.events.put_nowait(("write_step", (attempt_id, rec)))

    def finish_attempt(self, attempt_id: int, status: str, error: str | None = None) -> None:
        self.events.put_nowait(("finish_attempt", (attempt_id, status, error)))

    def record_call(self, record: CallRecord) -> None:
        self.events.put_nowait(("record_call", (record,)))


class TrialHost:
    """Runs trials on one node (a Ray actor; see the module docstring)."""

    def __init__(self, config: dict[str, Any], base: str | None, source: str, concurrency: int):
        self.experiment_args = (config, Path(base) if base else None, source)
        self.concurrency = concurrency
        self.node = socket.gethostname()
        self.specs: dict[str, RunSpec] = {}
        self.slots = 0
        self.gateway: Gateway | None = None
        self.backends: dict[str, Backend] = {}
        self.relays: dict[int, _Relay] = {}
        self.completion = True
        self._opening = asyncio.Lock()

    async def open(self) -> dict[str, Any]:
        """Load the experiment from this node's packs, check this node, and start its gateway (once;
        again after Ray restarts the host). Not in ``__init__``: a failure here reaches the driver as
        this call's error, with its message."""
        async with self._opening:
            if self.gateway is None:
                from goaldrift.gateway.app import Gateway
                from goaldrift.runner import create_backends

                try:
                    config, base, source = self.experiment_args
                    exp = experiment_from_dict(config, base=base, source=source)
                    check_environment(exp)  # this node's keys and sandbox
                    self.backends = await create_backends(exp)
                except GoaldriftError as exc:
                    raise ConfigError(f"node {self.node}: {exc}") from None
                self.specs = {s.run_id: s for s in plan(exp)}
                self.completion = exp.config.completion
                fits = [f for a in exp.config.agents if (f := runs_that_fit(a.harness)) is not None]
                self.slots = min([self.concurrency, *fits])
                rate_limits = {m.id: m.rate_limit for m in exp.config.models if m.rate_limit is not None}
                gateway = Gateway(recorder=self._record_call, rate_limits=rate_limits)
                await gateway.start()
                self.gateway = gateway
        return {"node": self.node, "pid": os.getpid(), "slots": self.slots}

    def _record_call(self, record: CallRecord) -> None:
        relay = self.relays.get(record.attempt_id or -1)
        if relay is not None:
            relay.record_call(record)

    async def attempt(self, run_id: str, attempt_id: int, number: int, workspaces: str):
        """Run one attempt of ``run_id`` with its workspace under ``workspaces`` (the store's folder for
        them, on this node); yields its store events, ending with ``finish_attempt``."""
        await self.open()
        spec = self.specs.get(run_id)
        if spec is None:
            raise GoaldriftError(f"node {self.node}: run {run_id} is not in this node's plan of the experiment: "
                                 "its packs or goaldrift version differ from the driver's (install the same on "
                                 "every node)")
        relay = _Relay(attempt_id, number)
        self.relays[attempt_id] = relay
        trial = Trial(spec, store=relay, gateway=self.gateway, backend=self.backends[spec.model.id],
                      workspaces=Path(workspaces), completion=self.completion)
        task = asyncio.create_task(trial.run())
        task.add_done_callback(lambda _: relay.events.put_nowait(None))
        try:
            while (event := await relay.events.get()) is not None:
                yield event
            task.result()  # an exception the trial did not turn into a failed attempt reaches the driver
        finally:
            self.relays.pop(attempt_id, None)
            if not task.done():
                task.cancel()


class RayExecutor:
    """Driver side: ``async with RayExecutor(exp, concurrency) as ex: await ex.execute(todo, ledger)``.

    Entering connects to the cluster (``address``; else ``RAY_ADDRESS``; else a Ray started on this
    machine for the run) and starts and checks one host per node: a node that cannot run the
    experiment (a key unset, no sandbox, a model that cannot be served) is a ``ConfigError`` (exit 2)
    before anything is written. Leaving ends the hosts, and the Ray it started.
    """

    def __init__(self, exp: Experiment, concurrency: int, *, address: str | None = None,
                 agent_factory: Any = None):
        if agent_factory not in (None, create_agent):
            raise ConfigError("executor ray: hosts create their agents from the registry; a custom agent "
                              "factory runs only with the local executor")
        self.exp, self.concurrency, self.address = exp, concurrency, address
        self.ray = import_ray()
        self.hosts: list[Any] = []
        self.slots: list[int] = []
        self._started_ray = False

    async def __aenter__(self) -> Self:
        ray = self.ray
        if not ray.is_initialized():
            local = self.address is None and not os.environ.get("RAY_ADDRESS")
            extra = {"include_dashboard": False} if local else {}
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False, **extra)
            except (ConnectionError, RuntimeError) as exc:
                where = self.address or os.environ.get("RAY_ADDRESS") or "this machine"
                raise BadInput(f"executor ray: cannot connect to the Ray cluster at {where}: "
                               f"{str(exc).splitlines()[0]} (is `ray start --head` running there, and this "
                               "shell given its address and auth token? see docs/scale.md)") from None
            self._started_ray = True
        try:
            await self._start_hosts()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        for host in self.hosts:
            with contextlib.suppress(Exception):
                self.ray.kill(host, no_restart=True)
        self.hosts.clear()
        if self._started_ray:
            self.ray.shutdown()

    async def _start_hosts(self) -> None:
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        ray, exp = self.ray, self.exp
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        remote_host = ray.remote(TrialHost)
        base = str(exp.path.parent.resolve()) if exp.path else None
        # ``completion`` is left out of the dump (it is no part of the experiment's id), but every node needs it
        config = {**exp.config.model_dump(mode="json"), "completion": exp.config.completion}
        self.hosts = [remote_host.options(
            num_cpus=0,  # trials wait on models; memory, not cores, bounds them (the host's slots)
            max_restarts=-1, max_task_retries=0,  # a lost host comes back; its streams are not replayed
            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=True),
        ).remote(config, base, str(exp.path or "<experiment>"), self.concurrency) for node in nodes]
        try:
            infos = await asyncio.gather(*(host.open.remote() for host in self.hosts))
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, GoaldriftError):
                raise ConfigError(str(cause)) from None
            raise
        self.slots = [info["slots"] for info in infos]

    async def execute(self, todo: list[RunSpec], ledger: Ledger) -> None:
        """Run ``todo`` on the hosts until each run has finished or failed; every write on this loop."""
        ray, store = self.ray, ledger.store
        workspaces = str(store.workspaces_dir())  # the same path on every node, created where it runs
        ledger.summary.concurrency = sum(self.slots)
        queue: asyncio.Queue[RunSpec] = asyncio.Queue()
        for spec in todo:
            queue.put_nowait(spec)
        lost: Counter[str] = Counter()

        async def attempt(host: Any, spec: RunSpec) -> bool:
            """One attempt of ``spec`` on ``host``; False when its worker was lost (the run is queued again)."""
            attempt_id, number = store.start_attempt(spec.run_id, workspace="")
            ledger.attempt_started(spec, attempt_id)
            end: tuple[str, str | None] | None = None
            try:
                stream = host.attempt.options(num_returns="streaming").remote(spec.run_id, attempt_id, number,
                                                                               workspaces)
                async for ref in stream:
                    name, args = await ref
                    end = self._apply(ledger, spec, attempt_id, name, args) or end
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.NodeDiedError, ray.exceptions.ObjectLostError) as exc:
                end = ("aborted", f"worker lost: {type(exc).__name__}")
            except ray.exceptions.RayTaskError as exc:  # a bug on the host: the run fails, the others go on
                end = ("failed", f"host error: {exc.cause!r}" if exc.cause else str(exc).splitlines()[0])
                store.finish_attempt(attempt_id, "failed", end[1])
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    store.finish_attempt(attempt_id, "aborted", "interrupted")
                raise
            if end is None or end[0] == "aborted":
                reason = end[1] if end else "worker lost: its stream ended without closing the attempt"
                store.finish_attempt(attempt_id, "aborted", reason)
                lost[spec.run_id] += 1
                if lost[spec.run_id] < MAX_LOST_ATTEMPTS:
                    return False
                end = ("failed", f"lost its worker {MAX_LOST_ATTEMPTS} times ({reason})")
                store.finish_attempt(attempt_id, "failed", end[1])
            ledger.run_done(end[0] == "finished", f"{run_label(spec)}: {end[1]}")
            return True

        async def worker(host: Any) -> None:
            while True:
                spec = await queue.get()
                try:
                    done = await attempt(host, spec)
                    if not done:
                        queue.put_nowait(spec)
                finally:
                    queue.task_done()
                if not done and not await self._host_back(host):
                    return  # this host is gone for good; the others take the queue

        workers = [asyncio.create_task(worker(host)) for host, slots in zip(self.hosts, self.slots)
                   for _ in range(slots)]
        joined = asyncio.create_task(queue.join())
        everyone = asyncio.gather(*workers)
        try:
            await asyncio.wait({joined, everyone}, return_when=asyncio.FIRST_COMPLETED)
            if not joined.done():
                everyone.result()  # a store error raised by a worker, else every host is gone
                raise GoaldriftError(f"every Ray host is gone and {queue.qsize()} runs are left: rerun the "
                                     "same command once the cluster is back to resume")
        finally:
            for task in (*workers, joined):
                task.cancel()
            with contextlib.suppress(BaseException):
                await everyone
            with contextlib.suppress(BaseException):
                await joined

    def _apply(self, ledger: Ledger, spec: RunSpec, attempt_id: int, name: str,
               args: tuple) -> tuple[str, str | None] | None:
        """Apply one event of ``attempt_id``'s stream; returns (status, error) for its last."""
        record = args[0] if name == "record_call" else None
        owner = record.attempt_id if record is not None else args[0]
        if name not in RELAYED or owner != attempt_id:
            raise GoaldriftError(f"attempt {attempt_id}: its host sent {name!r} for attempt {owner}")
        if record is not None:
            ledger.record_call(record)
            return None
        getattr(ledger.store, name)(*args)
        if name == "write_step":
            ledger.step_stored(spec, args[1])
        if name == "finish_attempt":
            return args[1], args[2]
        return None

    async def _host_back(self, host: Any) -> bool:
        """Wait for Ray to restart a lost host; False when it will not come back."""
        ray = self.ray
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HOST_RESTART_S
        while loop.time() < deadline:
            try:
                await host.open.remote()
                return True
            except ray.exceptions.ActorUnavailableError:
                await asyncio.sleep(0.5)
            except ray.exceptions.RayError:
                return False
        return False
