"""Codex CLI under a hanging and a failing model, each placement of the constraint, and its
isolation (no parent secret, no write outside the workspace); nothing left running (conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import fail_then_continue, hang_then_continue, needs, placement_run, programmed_run

pytestmark = [pytest.mark.harness, needs("codex")]
HARNESS = "codex"


def test_hanging_model_hits_the_wall_clock_then_the_session_continues(tmp_path: Path, scenario):
    hung, elapsed, after = hang_then_continue(HARNESS, tmp_path, scenario, wall_time_s=15)
    assert hung.limit_hit == "wall_time" and any("wall-clock" in e for e in hung.errors)
    assert elapsed < 15 + 15, "the step is stopped soon after its limit"
    assert after.errors == [] and after.tool_calls and after.raw["session_id"] == hung.raw["session_id"]


def test_failing_model_is_retried_a_bounded_number_of_times(tmp_path: Path, scenario):
    calls, failed, after = fail_then_continue(HARNESS, tmp_path, scenario, retries=1)
    assert failed.limit_hit is None and failed.errors and failed.tool_calls == []
    assert calls.count(1) == 2, f"one call and model_retry_limit (1) retry: {calls}"
    assert after.errors == [] and after.tool_calls, "the next step works in the same session"


@pytest.mark.parametrize("placement", ["instructions", "system_prompt"])
def test_constraint_placements(tmp_path: Path, scenario, placement):
    run, trace, calls = placement_run(HARNESS, tmp_path, scenario, placement)
    assert not trace.errors and trace.tool_calls
    constraint = run.constraint.strip()
    assert constraint not in (run.ws.repo / "AGENTS.md").read_text(), "the workspace does not carry it"
    assert len(calls) == trace.model_calls >= 2
    for c in calls:
        messages = c.request["messages"]
        assert constraint not in messages[0]["content"], "Codex's own prompt comes first, unchanged"
        role = "system" if placement == "system_prompt" else "user"  # developer instructions / AGENTS.md
        assert any(m["role"] == role and constraint in str(m["content"]) for m in messages[1:])


def test_sandbox_and_clean_environment(tmp_path: Path, scenario, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent-secret")
    outside = tmp_path / "outside.txt"
    plan = {1: [("exec_command", {"cmd": f"env; echo x > {outside}; echo ok > inside.txt", "login": False})]}
    run, trace = programmed_run(HARNESS, tmp_path, scenario, plan)
    shell = trace.tool_calls[0]
    assert shell.name == "command_execution" and "CODEX_HOME=" in shell.output
    assert "sk-parent-secret" not in shell.output and "OPENAI_API_KEY" not in shell.output
    assert not outside.exists()
    assert (run.ws.repo / "inside.txt").read_text() == "ok\n"
