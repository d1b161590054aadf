"""What an experiment will cost before it runs: ``goaldrift plan``.

A 360-run study is days of compute, tens of GB of disk and, with an API model, real money; a newcomer
must see that before typing ``run``. The estimate multiplies the experiment's plan (the exact runs and
steps ``run`` would execute, from ``experiment.plan``) by per-harness constants measured on this
project's own scripted runs (``HARNESS_COSTS``, the one place they live; measured by
``benchmarks/measure_plan.py``, numbers and method in docs/architecture.md, "Planning").

Prompt tokens are modelled, not averaged: an agent resends its whole conversation on every model call,
so a step's prompt tokens grow with the step number (linear in the step for a constant number of calls
per step; a run's total is quadratic in its length). A ``session: fresh`` condition starts every step
from an empty conversation, so each of its steps costs what step 1 costs.

The constants come from the scripted model, which replays each pack's reference change in a few tool
calls. A real model usually explores more (more calls per step, longer outputs), so for real
models the numbers are likely too low; ``--calls-factor`` in the CLI scales calls and tokens when you know better, and
wall time includes model latency only when ``--call-latency`` says what one call takes.

An experiment comparing harnesses is estimated run by run with each run's harness's constants; a
harness without measured constants is estimated with OpenCode's (another Node CLI agent with a large
system prompt: the closest measured one) and named in ``unmeasured``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from goaldrift.experiment import Experiment, RunSpec, plan


@dataclass(frozen=True)
class HarnessCost:
    """Measured per-step and per-run costs of one harness driven by the scripted model."""

    calls_per_step: float
    prompt_tokens_step1: float  # prompt tokens of all calls of step 1
    prompt_tokens_growth: float  # added to a step's prompt tokens per later step (accumulated context)
    completion_tokens_per_step: float
    seconds_per_step: float  # harness + goaldrift time of a step with an instant model (median)
    workspace_mb_base: float  # one attempt's workspace folder: template, git, harness state...
    workspace_mb_per_step: float  # ...and what each step adds (commits, the harness's session database)
    runtime_fetch_mb: float  # what the harness downloads into each workspace at run time (see below)
    store_kb_per_step: float  # store growth per step (steps, traces, every model call's bodies)
    memory_mb_per_run: float  # peak resident memory one concurrent run adds
    # Prompt tokens of a built-in pack relative to the pooled fit (its files and requests are longer or
    # shorter); a pack not listed (your own) gets 1.0.
    pack_factor: dict[str, float] = field(default_factory=dict)


# Measured 2026-11-28 with benchmarks/measure_plan.py: the three built-in packs, 12 steps each, the
# scripted model with policy comply, one run at a time, on a shared (busy) 2-core machine. Memory:
# builtin = the whole runner process (the agent runs inside it); opencode = runner + OpenCode process
# tree minus the runner alone. OpenCode's workspace: 10.6 MB after 4 steps (its session database grows
# ~1 MB a step) plus ``runtime_fetch_mb``: OpenCode installs ``@opencode-ai/plugin`` from the npm
# registry into every run's private folders (node_modules 36 MB + npm cache 31 MB) when the registry
# answers and the pinned install does not carry the plugin (``runtime_fetch_mb()``: an install made
# before ``install-opencode`` carried it; a run seeded with the carried copy fetches nothing). The builtin workspace was
# re-measured (0.11 MB) after snapshots began writing git objects directly instead of `git add`.
HARNESS_COSTS: dict[str, HarnessCost] = {
    "builtin": HarnessCost(
        calls_per_step=4.33, prompt_tokens_step1=9_000, prompt_tokens_growth=6_250,
        completion_tokens_per_step=1_044, seconds_per_step=0.21, workspace_mb_base=0.12, workspace_mb_per_step=0,
        runtime_fetch_mb=0, store_kb_per_step=62, memory_mb_per_run=70,
        pack_factor={"utility-privacy": 1.23, "convenience-security": 0.91, "efficiency-security": 0.87}),
    "opencode": HarnessCost(
        calls_per_step=5.67, prompt_tokens_step1=25_400, prompt_tokens_growth=12_640,
        completion_tokens_per_step=1_203, seconds_per_step=7.2, workspace_mb_base=6.5, workspace_mb_per_step=1.0,
        runtime_fetch_mb=67, store_kb_per_step=142, memory_mb_per_run=810,
        pack_factor={"utility-privacy": 1.41, "convenience-security": 0.86, "efficiency-security": 0.73}),
}


@dataclass(frozen=True)
class Estimate:
    runs: int
    steps: int
    model_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None  # of the priced models' runs; None when no model entry has a price
    priced_models: list[str]
    unpriced_models: list[str]
    disk_mb_per_workspace: float  # the mean over the runs
    disk_mb: float  # workspaces + store
    memory_mb_per_run: float
    concurrency: int
    memory_mb: float  # at the experiment's concurrency
    wall_s: float  # at the experiment's concurrency
    harness: str  # the harnesses, comma-separated
    model_time_included: bool
    unmeasured: list[str] = field(default_factory=list)  # harnesses estimated with OpenCode's constants

    def to_dict(self) -> dict:
        return asdict(self)


def runtime_fetch_mb(harness: str, cost: HarnessCost) -> float:
    """What a run of ``harness`` downloads into its workspace: OpenCode's plugin only when the pinned
    install does not carry it (then OpenCode fetches it from npm); a seeded run fetches nothing."""
    if harness == "opencode":
        from goaldrift.agents.opencode.install import plugin_modules

        if plugin_modules() is not None:
            return 0.0
    return cost.runtime_fetch_mb


def run_tokens(spec: RunSpec, cost: HarnessCost, calls_factor: float = 1.0) -> tuple[float, float]:
    """(prompt, completion) tokens of one run of ``spec``."""
    n = spec.n_steps
    growth = 0.0 if spec.condition.session == "fresh" else cost.prompt_tokens_growth
    prompt = (n * cost.prompt_tokens_step1 + growth * n * (n - 1) / 2) * cost.pack_factor.get(spec.scenario.id, 1.0)
    return prompt * calls_factor, n * cost.completion_tokens_per_step * calls_factor


def estimate(exp: Experiment, *, concurrency: int | None = None, calls_factor: float = 1.0,
             call_latency_s: float | None = None) -> Estimate:
    """The cost of running every run ``exp`` plans (finished runs in a store are not subtracted)."""
    harnesses = [a.harness for a in exp.config.agents]
    unmeasured = [h for h in harnesses if h not in HARNESS_COSTS]
    specs = plan(exp)
    conc = min(concurrency or exp.config.concurrency, max(1, len(specs)))
    steps = sum(s.n_steps for s in specs)
    scripted = all(m.backend == "scripted" for m in exp.config.models)
    latency = call_latency_s if call_latency_s is not None else (0.0 if scripted else None)
    calls = prompt = completion = price_total = workspace_disk = store_mb = busy_s = 0.0
    priced, unpriced = set(), set()
    for spec in specs:
        cost = HARNESS_COSTS.get(spec.agent.harness, HARNESS_COSTS["opencode"])
        p, c = run_tokens(spec, cost, calls_factor)
        prompt += p
        completion += c
        calls += spec.n_steps * cost.calls_per_step * calls_factor
        workspace_disk += (cost.workspace_mb_base + runtime_fetch_mb(spec.agent.harness, cost)
                           + spec.n_steps * cost.workspace_mb_per_step)
        store_mb += spec.n_steps * cost.store_kb_per_step / 1e3
        busy_s += spec.n_steps * (cost.seconds_per_step + cost.calls_per_step * calls_factor * (latency or 0.0))
        if spec.model.price is None:
            unpriced.add(spec.model.id)
        else:
            priced.add(spec.model.id)
            price_total += (p * spec.model.price.input + c * spec.model.price.output) / 1e6
    memory = max(HARNESS_COSTS.get(h, HARNESS_COSTS["opencode"]).memory_mb_per_run for h in harnesses)
    return Estimate(
        runs=len(specs), steps=steps, model_calls=round(calls), prompt_tokens=round(prompt),
        completion_tokens=round(completion), cost_usd=price_total if priced else None,
        priced_models=sorted(priced), unpriced_models=sorted(unpriced),
        disk_mb_per_workspace=workspace_disk / max(1, len(specs)), disk_mb=workspace_disk + store_mb,
        memory_mb_per_run=memory, concurrency=conc, memory_mb=conc * memory,
        wall_s=busy_s / conc, harness=", ".join(harnesses), model_time_included=latency is not None,
        unmeasured=unmeasured,
    )
