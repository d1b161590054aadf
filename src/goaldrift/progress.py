"""What a running experiment shows while it runs: runs, steps, ETA, tokens and spend per model, failures.

One display for every executor. It is fed by the one store writer (the runner's event loop), from
the same events that are stored — a step written, a model call recorded, an attempt closed — so what
it shows is what the store holds, whether the trials ran in this process or on a Ray cluster. On a
terminal it is a rich progress bar with a line per model under it; elsewhere (CI logs) one plain line
per stored step, so a log still says how far a run got.

Spend is prompt and completion tokens times the model entry's ``price`` (US dollars per 1M tokens,
the same field ``goaldrift plan`` uses); a model without a price shows tokens only, and a model with
no call yet is not shown.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Self

from goaldrift.gateway.record import CallRecord
from goaldrift.modelspec import ModelSpec


@dataclass
class ModelTally:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    spend_usd: float | None = None  # None: the model entry has no price

    def line(self, model_id: str) -> str:
        spend = "" if self.spend_usd is None else f", ${self.spend_usd:.2f}"
        return (f"{model_id}: {self.calls} calls, {self.prompt_tokens:,} prompt + "
                f"{self.completion_tokens:,} completion tokens{spend}")


class Progress:
    """Counts and shows a run's progress. ``total_steps`` and ``total_runs`` are what this invocation
    has to do (finished runs of an earlier invocation are not counted)."""

    def __init__(self, models: list[ModelSpec], total_runs: int, total_steps: int, enabled: bool):
        self.prices = {m.id: m.price for m in models}
        self.tallies = {m.id: ModelTally(spend_usd=None if m.price is None else 0.0) for m in models}
        self.attempt_model: dict[int, str] = {}
        self.total_runs, self.total_steps = total_runs, total_steps
        self.runs_done = self.failed = self.steps = 0
        self.enabled = enabled and total_steps > 0
        self.started = time.monotonic()
        self.bar = None
        if self.enabled and sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self.bar = RichProgress(TextColumn("[bold]steps"), BarColumn(), MofNCompleteColumn(),
                                    TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                                    TextColumn("{task.description}"))
            self.task = self.bar.add_task("", total=total_steps)

    def __enter__(self) -> Self:
        if self.bar:
            self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar:
            self.bar.stop()

    # -- events (from the store writer) -----------------------------------------------------------

    def attempt_started(self, attempt_id: int, model_id: str) -> None:
        self.attempt_model[attempt_id] = model_id

    def call(self, record: CallRecord) -> None:
        model_id = self.attempt_model.get(record.attempt_id or -1)
        if model_id is None:
            return
        tally = self.tallies[model_id]
        tally.calls += 1
        tally.prompt_tokens += record.prompt_tokens
        tally.completion_tokens += record.completion_tokens
        price = self.prices[model_id]
        if price is not None:
            tally.spend_usd = (tally.spend_usd or 0.0) + (
                record.prompt_tokens * price.input + record.completion_tokens * price.output) / 1e6

    def step(self, note: str) -> None:
        self.steps += 1
        if self.bar:
            self.bar.update(self.task, advance=1, description=f"{self.runs_line()} · {self.models_line()}")
        elif self.enabled:
            elapsed = time.monotonic() - self.started
            eta = elapsed / self.steps * (self.total_steps - self.steps)
            print(f"[{self.steps}/{self.total_steps}] {note}  elapsed {elapsed:.0f}s, eta {eta:.0f}s · "
                  f"{self.runs_line()} · {self.models_line()}", file=sys.stderr, flush=True)

    def run_done(self, failed: bool) -> None:
        self.runs_done += 1
        self.failed += int(failed)

    # -- text -------------------------------------------------------------------------------------

    def runs_line(self) -> str:
        return f"runs {self.runs_done}/{self.total_runs}, {self.failed} failed"

    def models_line(self) -> str:
        """Calls and tokens of the models that have made calls: a model still queued (or, with ``-j 1``,
        waiting for the other models' runs) would only add "0 calls, 0 prompt + 0 completion tokens"."""
        lines = [t.line(m) for m, t in self.tallies.items() if t.calls]
        return "; ".join(lines) or "no model calls yet"
