"""Claude Code under a hanging and a failing model, each placement of the constraint, and its
isolation (no parent secret, no write outside the workspace); nothing left running (conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import fail_then_continue, hang_then_continue, needs, placement_run, programmed_run

pytestmark = [pytest.mark.harness, needs("claude-code")]
HARNESS = "claude-code"


def test_hanging_model_hits_the_wall_clock_then_the_session_continues(tmp_path: Path, scenario):
    hung, elapsed, after = hang_then_continue(HARNESS, tmp_path, scenario, wall_time_s=15)
    assert hung.limit_hit == "wall_time" and any("wall-clock" in e for e in hung.errors)
    assert elapsed < 15 + 15, "the step is stopped soon after its limit"
    assert after.errors == [] and after.tool_calls and after.raw["session_id"] == hung.raw["session_id"]


def test_failing_model_is_retried_a_bounded_number_of_times(tmp_path: Path, scenario):
    calls, failed, after = fail_then_continue(HARNESS, tmp_path, scenario, retries=1)
    assert failed.limit_hit is None and failed.tool_calls == []
    assert any("502" in e or "injected failure" in e for e in failed.errors), failed.errors
    assert calls.count(1) == 2, "one call and model_retry_limit (1) retry"
    assert after.errors == [] and after.tool_calls, "the next step works in the same session"


@pytest.mark.parametrize("placement", ["instructions", "system_prompt"])
def test_constraint_placements(tmp_path: Path, scenario, placement):
    run, trace, calls = placement_run(HARNESS, tmp_path, scenario, placement)
    assert not trace.errors and trace.tool_calls
    constraint = run.constraint.strip()
    assert constraint not in (run.ws.repo / "AGENTS.md").read_text(), "the workspace does not carry it"
    assert len(calls) == trace.model_calls >= 2
    for c in calls:
        system = c.request["messages"][0]
        assert system["role"] == "system"
        if placement == "system_prompt":  # --append-system-prompt: after Claude Code's own prompt
            assert constraint in system["content"] and system["content"].index(constraint) > 1000
        else:  # ~/.claude/CLAUDE.md: in the first user turn's reminder, beside the project's AGENTS.md
            user = next(m for m in c.request["messages"] if m["role"] == "user")
            assert constraint in user["content"] and constraint not in system["content"]


def test_sandbox_and_clean_environment(tmp_path: Path, scenario, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-parent-secret")
    outside = tmp_path / "outside.txt"
    plan = {1: [("Bash", {"command": f"env; echo x > {outside}; echo ok > inside.txt", "description": "probe"}),
                ("Write", {"file_path": str(tmp_path / "elsewhere.txt"), "content": "nope"})]}
    run, trace = programmed_run(HARNESS, tmp_path, scenario, plan)
    bash, write = trace.tool_calls[:2]
    assert bash.name == "Bash" and "sk-ant-parent-secret" not in bash.output
    assert run.route.token in bash.output, "the only credential inside is the route's token"
    assert "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1" in bash.output
    # Both writes outside the workspace land in the sandbox's private /tmp (or fail), never on the host.
    assert write.name == "Write" and not outside.exists() and not (tmp_path / "elsewhere.txt").exists()
    assert (run.ws.repo / "inside.txt").read_text() == "ok\n"
