"""The progress display (runs, steps, ETA, tokens and spend per model, failures) and the per-model
tokens of ``goaldrift status``, which a second shell reads while a run goes on."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from tests.conftest import run_cli

from goaldrift import runner as runner_module
from goaldrift.experiment import experiment_from_dict
from goaldrift.gateway.record import CallRecord
from goaldrift.modelspec import ModelSpec
from goaldrift.progress import Progress
from goaldrift.runner import Runner


def _call(attempt_id: int, prompt: int, completion: int) -> CallRecord:
    return CallRecord(attempt_id=attempt_id, step=1, backend="openai", model="x", stream=False, status=200,
                      latency_s=0.1, prompt_tokens=prompt, completion_tokens=completion)


def test_tokens_and_spend_add_up_per_model_and_lines_say_runs_and_failures(capsys):
    priced = ModelSpec.model_validate({"id": "priced", "backend": "scripted", "price": {"input": 2, "output": 10}})
    free = ModelSpec.model_validate({"id": "free", "backend": "scripted"})
    progress = Progress([priced, free], total_runs=2, total_steps=4, enabled=True)  # stderr is no terminal here
    progress.attempt_started(1, "priced")
    progress.attempt_started(2, "free")
    progress.call(_call(1, 1_000_000, 100_000))
    progress.call(_call(1, 500_000, 0))
    progress.call(_call(2, 7, 3))
    progress.call(_call(99, 5, 5))  # an attempt the display does not know (not this run's): not counted
    progress.run_done(failed=True)
    progress.step("priced mini privacy->utility #0 step 1")

    tally = progress.tallies["priced"]
    assert (tally.calls, tally.prompt_tokens, tally.completion_tokens) == (2, 1_500_000, 100_000)
    assert tally.spend_usd == 1.5 * 2 + 0.1 * 10
    assert progress.tallies["free"].spend_usd is None and progress.tallies["free"].calls == 1
    line = capsys.readouterr().err
    assert line.startswith("[1/4] priced mini privacy->utility #0 step 1")
    assert "runs 1/2, 1 failed" in line
    assert "priced: 2 calls, 1,500,000 prompt + 100,000 completion tokens, $4.00" in line
    assert "free: 1 calls, 7 prompt + 3 completion tokens" in line and "free: 1 calls, 7 prompt + 3 completion tokens," not in line


def test_models_without_calls_are_left_out_of_the_progress_line(capsys):
    models = [ModelSpec.model_validate({"id": name, "backend": "scripted"}) for name in ("first", "queued")]
    progress = Progress(models, total_runs=2, total_steps=2, enabled=True)
    progress.attempt_started(1, "first")
    progress.step("first mini privacy->utility #0 step 1")  # no call recorded yet
    assert progress.models_line() == "no model calls yet"
    progress.call(_call(1, 10, 2))
    progress.step("first mini privacy->utility #0 step 2")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith("· no model calls yet")
    assert lines[1].endswith("· first: 1 calls, 10 prompt + 2 completion tokens") and "queued" not in lines[1]


def test_a_run_reports_its_calls_to_the_display_and_status_shows_tokens_per_model(mini_pack, tmp_path,
                                                                                 monkeypatch):
    shown_by: list[Progress] = []

    class Seen(Progress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            shown_by.append(self)

    monkeypatch.setattr(runner_module, "Progress", Seen)
    exp = experiment_from_dict({"name": "p", "models": [{"id": "m", "backend": "scripted"}],
                                "scenarios": [str(mini_pack)], "conditions": ["privacy->utility"], "steps": 2,
                                "agent": {"harness": "builtin"}})
    store = tmp_path / "store.db"
    runner = Runner(exp, store, progress=False)
    summary = asyncio.run(runner.run())
    assert summary.complete
    db = sqlite3.connect(store)
    calls, prompt, completion = db.execute(
        "SELECT COUNT(*), SUM(prompt_tokens), SUM(completion_tokens) FROM model_calls").fetchone()
    db.close()
    assert calls > 0 and prompt > 0
    tally = shown_by[0].tallies["m"]
    assert (tally.calls, tally.prompt_tokens, tally.completion_tokens) == (calls, prompt, completion)
    assert (shown_by[0].steps, shown_by[0].runs_done, shown_by[0].failed) == (2, 1, 0)
    shown = run_cli("status", "--store", str(store), "--json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["models"] == {"m": {"calls": calls, "prompt_tokens": prompt,
                                                        "completion_tokens": completion}}
    table = run_cli("status", "--store", str(store))
    row = next(line for line in table.stdout.splitlines() if "model m " in line)
    assert f"{calls} calls, {prompt:,} prompt + {completion:,} completion tokens" in row
