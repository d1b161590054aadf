"""Concurrency on one machine: N trials really run at once, never more, with one store writer; the
memory bound for OpenCode runs; ``goaldrift status`` from another process mid-run; the scripted
model's latency.

"At once" is tested with a barrier, not a clock: the first model call of every run waits until N
calls are in flight together, which can only happen if N trials run concurrently (a serial runner
would wait forever; the generous timeout turns that into a failure). Nothing here depends on speed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time

import httpx
import pytest
from tests.conftest import run_cli

from goaldrift import runner as runner_module
from goaldrift.capacity import MEMORY_PER_RUN, RESERVE, runs_that_fit
from goaldrift.experiment import experiment_from_dict
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import create_backend
from goaldrift.gateway.backends.scripted import ScriptContext
from goaldrift.modelspec import ModelSpec
from goaldrift.runner import Runner
from goaldrift.store import Store


class MeetingBackend:
    """Wraps the scripted backend: the first call of each of the first ``parties`` runs waits at a
    barrier until all of them are in flight; counts the calls in flight."""

    def __init__(self, inner, parties: int):
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.barrier = asyncio.Barrier(parties)
        self.parties, self.met = parties, 0
        self.in_flight = self.peak = 0

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def stream(self, request, ctx):
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if self.met < self.parties and not ctx.route.state.get("met"):
                self.met += 1
                ctx.route.state["met"] = True
                await asyncio.wait_for(self.barrier.wait(), 120)
            async for chunk in self.inner.stream(request, ctx):
                yield chunk
        finally:
            self.in_flight -= 1


def _experiment(pack, concurrency: int, repeats: int) -> dict:
    return {"name": "concurrency", "models": [{"id": "m", "backend": "scripted"}], "scenarios": [str(pack)],
            "repeats": repeats, "steps": 2, "concurrency": concurrency,
            "agent": {"harness": "builtin", "limits": {"wall_time_s": 300}}}


def test_n_trials_run_at_once_never_more_and_write_only_from_the_event_loop(mini_pack, tmp_path, monkeypatch):
    backends: list[MeetingBackend] = []

    def meeting(spec):
        backends.append(MeetingBackend(create_backend(spec), parties=3))
        return backends[-1]

    writers: set[int] = set()
    real_tx = Store.tx

    def tx(self):
        writers.add(threading.get_ident())
        return real_tx(self)

    monkeypatch.setattr(runner_module, "create_backend", meeting)
    monkeypatch.setattr(Store, "tx", tx)
    exp = experiment_from_dict(_experiment(mini_pack, concurrency=3, repeats=2))  # 8 runs, 3 at once
    loop_thread: list[int] = []

    async def go():
        loop_thread.append(threading.get_ident())
        return await Runner(exp, tmp_path / "store.db", progress=False).run()

    summary = asyncio.run(go())
    assert (summary.planned, summary.finished, summary.failed) == (8, 8, 0), summary.errors
    assert summary.concurrency == 3
    # the barrier of 3 opened (else its calls would have failed on the timeout, checked below) ...
    assert backends[0].peak == 3  # ... and the semaphore never let a 4th trial call the model
    assert writers == set(loop_thread)  # every store write on the event loop's thread
    db = sqlite3.connect(tmp_path / "store.db")
    assert db.execute("SELECT COUNT(*) FROM step_results").fetchone()[0] == 16
    assert db.execute("SELECT COUNT(*) FROM model_calls WHERE status != 200").fetchone()[0] == 0


def test_opencode_runs_are_bounded_by_memory(mini_pack, tmp_path, monkeypatch):
    per_run = MEMORY_PER_RUN["opencode"]
    assert runs_that_fit("opencode", RESERVE + 3 * per_run + per_run // 2) == 3
    assert runs_that_fit("opencode", RESERVE // 2) == 1  # never 0: one run is always tried
    assert runs_that_fit("builtin", 0) is None  # no bound for a harness with negligible memory

    monkeypatch.setattr(runner_module, "runs_that_fit", lambda harness: 2 if harness == "opencode" else None)
    raw = _experiment(mini_pack, concurrency=8, repeats=1)
    raw["agent"] = {"harness": "opencode"}
    runner = Runner(experiment_from_dict(raw), tmp_path / "store.db", progress=False)
    assert runner._bounded_concurrency() == 2
    assert "only 2 fit in the memory available" in runner.summary.notes[0]
    raw["agent"] = {"harness": "builtin"}
    assert Runner(experiment_from_dict(raw), tmp_path / "store.db", progress=False)._bounded_concurrency() == 8


def test_scripted_latency_is_a_checked_param_and_delays_each_reply(mini_pack):
    for bad in ({"latency_s": -1}, {"latency": 2}):
        with pytest.raises(ValueError, match="params.latency"):
            ModelSpec(id="m", backend="scripted", params=bad)
    spec = ModelSpec(id="m", backend="scripted", params={"latency_s": 0.3})
    assert spec.public()["params"] == {"latency_s": 0.3}  # part of what a run is, like other settings
    from goaldrift.scenario import load_scenario

    scenario = load_scenario(mini_pack)
    tools = [{"type": "function", "function": {"name": n}} for n in ("write_file", "edit_file")]

    async def go():
        async with Gateway() as gw:
            route = gw.open_route(create_backend(spec), context=ScriptContext(scenario, "privacy"))
            route.step = 1
            async with httpx.AsyncClient(timeout=60) as c:
                started = time.monotonic()
                r = await c.post(gw.url_for(route) + "/chat/completions",
                                 json={"messages": [{"role": "user", "content": "go"}], "tools": tools})
                return r, time.monotonic() - started

    response, took = asyncio.run(go())
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "write_file"
    assert took >= 0.3


def test_doctor_says_how_many_opencode_runs_fit(monkeypatch):
    import psutil

    from goaldrift.cli.doctor import check_capacity

    class Memory:
        available = RESERVE + 5 * MEMORY_PER_RUN["opencode"]

    monkeypatch.setattr(psutil, "virtual_memory", lambda: Memory)
    check = check_capacity()
    assert check.version == "5 opencode" and not check.required


class HoldingBackend:
    """Wraps the scripted backend: the first call of each run waits until ``release`` is set."""

    def __init__(self, inner):
        self.inner, self.name, self.model = inner, inner.name, inner.model
        self.release = asyncio.Event()
        self.waiting = 0

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def stream(self, request, ctx):
        if not ctx.route.state.get("held"):
            ctx.route.state["held"] = True
            self.waiting += 1
            await asyncio.wait_for(self.release.wait(), 120)
        async for chunk in self.inner.stream(request, ctx):
            yield chunk


def test_status_from_another_process_while_a_run_is_going(mini_pack, tmp_path, monkeypatch):
    backends: list[HoldingBackend] = []
    monkeypatch.setattr(runner_module, "create_backend", lambda spec: backends.append(
        HoldingBackend(create_backend(spec))) or backends[-1])
    store = tmp_path / "store.db"
    exp = experiment_from_dict(_experiment(mini_pack, concurrency=3, repeats=1))  # 4 runs, 3 at once

    async def go():
        run = asyncio.create_task(Runner(exp, store, progress=False).run())
        while not backends or backends[0].waiting < 3:
            assert not run.done(), run.result().errors
            await asyncio.sleep(0.05)
        during = await asyncio.to_thread(run_cli, "status", "--store", str(store), "--json")
        backends[0].release.set()
        return await run, during

    summary, during = asyncio.run(go())
    assert during.returncode == 0, during.stderr
    seen = json.loads(during.stdout)
    assert seen["attempts"] == {"running": 3} and seen["finished_steps"] == 0 and seen["planned_steps"] == 8
    assert summary.complete and summary.finished == 4
