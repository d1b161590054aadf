"""Each command-line harness (Claude Code, Codex CLI, Qwen Code) under a hanging and a failing model,
each placement of the constraint, and its isolation (no parent secret, no write outside the
workspace); nothing left running (conftest). What all three must do is one parametrized test; what
differs (where a harness puts the constraint, its tool names) is said per harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import fail_then_continue, hang_then_continue, needs, placement_run, programmed_run

pytestmark = pytest.mark.harness


def harnesses(*rows: tuple) -> list:
    """``pytest.param`` rows whose first value is a harness, skipped where its binary is missing."""
    return [pytest.param(*row, marks=needs(row[0]), id=row[0]) for row in rows]


# Qwen Code starts slower (Node start-up), so its wall clock is longer; a step stopped before the
# harness printed its first event has no session id yet, so Qwen Code's next step may start a new one.
@pytest.mark.parametrize(("harness", "wall_time_s", "same_session"), harnesses(
    ("claude-code", 15, True), ("codex", 15, True), ("qwen-code", 30, False)))
def test_hanging_model_hits_the_wall_clock_then_the_session_continues(harness, wall_time_s, same_session,
                                                                      tmp_path: Path, scenario):
    hung, after = hang_then_continue(harness, tmp_path, scenario, wall_time_s=wall_time_s)
    # the model never answers: only the wall clock can have ended the step (how soon is a speed)
    assert hung.limit_hit == "wall_time" and any("wall-clock" in e for e in hung.errors)
    assert after.errors == [] and after.tool_calls
    if same_session:
        assert after.raw["session_id"] == hung.raw["session_id"]


@pytest.mark.parametrize("harness", harnesses(("claude-code",), ("codex",)))
def test_failing_model_is_retried_a_bounded_number_of_times(harness, tmp_path: Path, scenario):
    calls, failed, after = fail_then_continue(harness, tmp_path, scenario, retries=1)
    assert failed.limit_hit is None and failed.tool_calls == []
    assert any("502" in e or "injected failure" in e for e in failed.errors), failed.errors
    assert calls.count(1) == 2, f"one call and model_retry_limit (1) retry: {calls}"
    assert after.errors == [] and after.tool_calls, "the next step works in the same session"


@needs("qwen-code")
def test_qwen_code_failing_model_is_bounded_by_the_wall_clock_then_the_session_continues(tmp_path: Path,
                                                                                         scenario):
    # Qwen Code retries a 502 in a loop of its own that model_retry_limit does not bound (docs/harnesses.md):
    # the wall clock ends the step.
    calls, failed, after = fail_then_continue("qwen-code", tmp_path, scenario, retries=1, wall_time_s=90)
    assert failed.errors and failed.tool_calls == [] and calls.count(1) >= 1
    assert failed.limit_hit in (None, "wall_time")
    assert after.errors == [] and after.tool_calls, "the next step works in the same session"
    assert after.raw["session_id"] == failed.raw["session_id"]


def _claude_code_places(constraint: str, placement: str, messages: list[dict]) -> None:
    system = messages[0]
    assert system["role"] == "system"
    if placement == "system_prompt":  # --append-system-prompt: after Claude Code's own prompt
        assert constraint in system["content"] and system["content"].index(constraint) > 1000
    else:  # ~/.claude/CLAUDE.md: in the first user turn's reminder, beside the project's AGENTS.md
        user = next(m for m in messages if m["role"] == "user")
        assert constraint in user["content"] and constraint not in system["content"]


def _codex_places(constraint: str, placement: str, messages: list[dict]) -> None:
    assert constraint not in messages[0]["content"], "Codex's own prompt comes first, unchanged"
    role = "system" if placement == "system_prompt" else "user"  # developer instructions / AGENTS.md
    assert any(m["role"] == role and constraint in str(m["content"]) for m in messages[1:])


def _qwen_code_places(constraint: str, placement: str, messages: list[dict]) -> None:
    system = messages[0]
    assert system["role"] == "system" and constraint in system["content"]
    if placement == "system_prompt":  # --append-system-prompt: after Qwen Code's own prompt
        assert system["content"].index(constraint) > 1000


@pytest.mark.parametrize("placement", ["instructions", "system_prompt"])
@pytest.mark.parametrize(("harness", "places"), harnesses(
    ("claude-code", _claude_code_places), ("codex", _codex_places), ("qwen-code", _qwen_code_places)))
def test_constraint_placements(harness, places, placement, tmp_path: Path, scenario):
    run, trace, calls = placement_run(harness, tmp_path, scenario, placement)
    assert not trace.errors and trace.tool_calls
    constraint = run.constraint.strip()
    assert constraint not in (run.ws.repo / "AGENTS.md").read_text(), "the workspace does not carry it"
    assert len(calls) == trace.model_calls >= 2
    for c in calls:
        places(constraint, placement, c.request["messages"])


# harness, the parent's key it must not see, its shell tool call, that call's name in the trace, a
# variable of the harness's own isolated configuration that its shell shows
SHELL = "env; echo x > {outside}; echo ok > inside.txt"
ISOLATION = harnesses(
    ("claude-code", "ANTHROPIC_API_KEY", ("Bash", {"command": SHELL, "description": "probe"}), "Bash",
     "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"),
    ("codex", "OPENAI_API_KEY", ("exec_command", {"cmd": SHELL, "login": False}), "command_execution",
     "CODEX_HOME="),
    ("qwen-code", "OPENAI_API_KEY", ("run_shell_command", {"command": SHELL}), "run_shell_command",
     "QWEN_CODE_SYSTEM_SETTINGS_PATH="),
)


@pytest.mark.parametrize(("harness", "key", "call", "traced_as", "own_config"), ISOLATION)
def test_sandbox_and_clean_environment(harness, key, call, traced_as, own_config, tmp_path: Path, scenario,
                                       monkeypatch):
    monkeypatch.setenv(key, "sk-parent-secret")
    outside, elsewhere = tmp_path / "outside.txt", tmp_path / "elsewhere.txt"
    tool, args = call
    args = {k: v.format(outside=outside) if isinstance(v, str) else v for k, v in args.items()}
    plan = {1: [(tool, args)]}
    if harness == "claude-code":  # Claude Code's file tool too (the others change files through the shell)
        plan[1].append(("Write", {"file_path": str(elsewhere), "content": "nope"}))
    run, trace = programmed_run(harness, tmp_path, scenario, plan)
    shell = trace.tool_calls[0]
    assert shell.name == traced_as and own_config in shell.output
    assert "sk-parent-secret" not in shell.output
    assert run.route.token in shell.output, "the only credential inside is the route's token"
    assert key not in shell.output or f"{key}={run.route.token}" in shell.output
    # Writes outside the workspace land in the sandbox's private /tmp (or fail), never on the host.
    assert not outside.exists() and not elsewhere.exists()
    assert (run.ws.repo / "inside.txt").read_text() == "ok\n"
    if harness == "claude-code":
        assert trace.tool_calls[1].name == "Write"
