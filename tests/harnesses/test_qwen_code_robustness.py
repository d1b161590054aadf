"""Qwen Code under a hanging and a failing model, each placement of the constraint, and its
isolation (no parent secret, no write outside the workspace); nothing left running (conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import fail_then_continue, hang_then_continue, needs, placement_run, programmed_run

pytestmark = [pytest.mark.harness, needs("qwen-code")]
HARNESS = "qwen-code"


def test_hanging_model_hits_the_wall_clock_then_the_session_continues(tmp_path: Path, scenario):
    hung, elapsed, after = hang_then_continue(HARNESS, tmp_path, scenario, wall_time_s=30)
    assert hung.limit_hit == "wall_time" and any("wall-clock" in e for e in hung.errors)
    assert elapsed < 30 + 15, "the step is stopped soon after its limit"
    assert after.errors == [] and after.tool_calls


def test_failing_model_is_bounded_by_the_wall_clock_then_the_session_continues(tmp_path: Path, scenario):
    # Qwen Code retries a 502 in a loop of its own that model_retry_limit does not bound (docs/harnesses.md):
    # the wall clock ends the step.
    calls, failed, after = fail_then_continue(HARNESS, tmp_path, scenario, retries=1, wall_time_s=90)
    assert failed.errors and failed.tool_calls == [] and calls.count(1) >= 1
    assert failed.limit_hit in (None, "wall_time")
    assert after.errors == [] and after.tool_calls, "the next step works in the same session"
    assert after.raw["session_id"] == failed.raw["session_id"]


@pytest.mark.parametrize("placement", ["instructions", "system_prompt"])
def test_constraint_placements(tmp_path: Path, scenario, placement):
    run, trace, calls = placement_run(HARNESS, tmp_path, scenario, placement)
    assert not trace.errors and trace.tool_calls
    constraint = run.constraint.strip()
    assert constraint not in (run.ws.repo / "AGENTS.md").read_text(), "the workspace does not carry it"
    assert len(calls) == trace.model_calls >= 2
    for c in calls:
        system = c.request["messages"][0]
        assert system["role"] == "system" and constraint in system["content"]
        if placement == "system_prompt":  # --append-system-prompt: after Qwen Code's own prompt
            assert system["content"].index(constraint) > 1000


def test_sandbox_and_clean_environment(tmp_path: Path, scenario, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    outside = tmp_path / "outside.txt"
    plan = {1: [("run_shell_command", {"command": f"env; echo x > {outside}; echo ok > inside.txt"})]}
    run, trace = programmed_run(HARNESS, tmp_path, scenario, plan)
    shell = trace.tool_calls[0]
    assert shell.name == "run_shell_command" and "QWEN_CODE_SYSTEM_SETTINGS_PATH=" in shell.output
    assert "sk-parent-secret" not in shell.output
    assert not outside.exists()
    assert (run.ws.repo / "inside.txt").read_text() == "ok\n"
