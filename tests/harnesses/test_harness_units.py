"""The command-line harness drivers without their binaries: the pinned installer's table and CLI,
typed options checked at load (exit 2), command lines and environments, traces from recorded event
shapes, the scripted model's dialects, and the Messages front-end's system turns."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from tests.conftest import run_cli

from goaldrift.agents.base import AgentLimits, AgentSession
from goaldrift.agents.claude_code import trace as claude_trace
from goaldrift.agents.npm_harness import HARNESS_PACKAGES, harness_package
from goaldrift.agents.registry import HARNESSES, create_agent
from goaldrift.errors import ConfigError
from goaldrift.gateway.backends.scripted import DIALECTS
from goaldrift.gateway.protocols.anthropic_messages import to_chat


def test_every_pinned_harness_is_registered_and_installable():
    assert set(HARNESS_PACKAGES) == {"opencode", "claude-code", "codex", "qwen-code"}
    assert {"claude-code"} <= set(HARNESSES)
    assert HARNESS_PACKAGES["claude-code"].version == "2.1.328"
    assert harness_package("claude-code").install_command == "goaldrift install-harness claude-code"
    with pytest.raises(ConfigError, match="unknown harness 'nope'"):
        harness_package("nope")


def test_install_harness_of_an_unknown_name_is_exit_2(tmp_path):
    done = run_cli("install-harness", "nope", env={"GOALDRIFT_HOME": str(tmp_path)})
    assert done.returncode == 2 and "unknown harness" in done.stderr and "Traceback" not in done.stderr


def test_doctor_reports_each_harness_with_its_fix(tmp_path):
    done = run_cli("doctor", "--json", env={"GOALDRIFT_HOME": str(tmp_path / "empty")})
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    for name in ("claude-code", "codex", "qwen-code"):
        assert checks[name]["status"] == "optional" and not checks[name]["required"]
        assert checks[name]["fix"] == f"goaldrift install-harness {name}"


def _experiment(pack: Path, harness: str, options: dict) -> dict:
    return {"name": "h", "models": [{"id": "c", "backend": "scripted"}], "scenarios": [str(pack)],
            "conditions": ["privacy"], "agent": {"harness": harness, "options": options}}


@pytest.mark.parametrize("harness", ["claude-code"])
def test_bad_options_are_exit_2_at_load(mini_pack, tmp_path, harness):
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(_experiment(mini_pack, harness, {"prompt_modd": "append"})))
    done = run_cli("run", str(exp), "--store", str(tmp_path / "r" / "store.db"))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"agent.{harness}.options.prompt_modd" in done.stderr
    assert not (tmp_path / "r").exists()


def _started(harness: str, tmp_path: Path, placement: str = "agents_md", options: dict | None = None):
    """An agent whose ``start`` ran (files and environment prepared), with the sandbox off."""
    ws = tmp_path / "ws"
    ws.mkdir(parents=True)
    (ws / "AGENTS.md").write_text("notes\n")
    session = AgentSession(workspace=ws, base_url="http://127.0.0.1:9/r/gd-token/v1", api_key="gd-token",
                           model="m", placement=placement, constraint="NEVER LOG PII",
                           limits=AgentLimits(command_timeout_s=30), scratch=tmp_path / "agent",
                           options={"sandbox": "none", **(options or {})})
    agent = create_agent(harness)
    if HARNESS_PACKAGES[harness].find() is None:
        pytest.skip(f"{harness} is not installed")
    asyncio.run(agent.start(session))
    return agent


def test_claude_code_command_line_environment_and_placements(tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-parent")
    agent = _started("claude-code", tmp_path / "a")
    env = agent._env
    assert env["ANTHROPIC_API_KEY"] == "gd-token" and env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9/r/gd-token"
    assert env["CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"] == env["DISABLE_AUTOUPDATER"] == "1"
    assert env["BASH_DEFAULT_TIMEOUT_MS"] == "30000" and env["CLAUDE_CODE_MAX_RETRIES"] == "2"
    assert env["HOME"].startswith(str(tmp_path)) and "sk-parent" not in json.dumps(env)
    argv = agent.argv("do it")
    assert argv[1:3] == ["-p", "do it"] and "--resume" not in argv and "--append-system-prompt" not in argv
    agent.session_id = "s-1"
    assert argv + ["--resume", "s-1"] == agent.argv("do it")

    instructions = _started("claude-code", tmp_path / "b", "instructions")
    memory = instructions.dirs.home / ".claude" / "CLAUDE.md"
    assert memory.read_text() == "NEVER LOG PII\n" and memory in instructions._readonly

    system = _started("claude-code", tmp_path / "c", "system_prompt", {"prompt_mode": "replace",
                                                                       "disabled_tools": ["Agent", "Skill"]})
    argv = system.argv("x")
    assert argv[argv.index("--system-prompt") + 1] == "NEVER LOG PII"
    assert argv[argv.index("--disallowedTools") + 1] == "Agent,Skill"


CLAUDE_EVENTS = [
    {"type": "system", "subtype": "init", "session_id": "s-1", "tools": ["Bash", "Edit"]},
    {"type": "assistant", "session_id": "s-1", "message": {"id": "m1", "content": [
        {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}]}},
    {"type": "stream_event", "api_message_id": "m1", "event": {"type": "message_delta", "usage": {
        "input_tokens": 90, "cache_read_input_tokens": 10, "output_tokens": 5}}},
    {"type": "user", "message": {"content": [{"type": "tool_result", "tool_use_id": "t1", "is_error": True,
                                              "content": [{"type": "text", "text": "Exit code 2"}]}]}},
    {"type": "system", "subtype": "compact_boundary"},
    {"type": "assistant", "message": {"id": "m2", "content": [{"type": "text", "text": "Done."},
                                                              {"type": "tool_use", "id": "t2", "name": "Edit",
                                                               "input": {}}]}},
    {"type": "stream_event", "api_message_id": "m2", "event": {"type": "message_delta", "usage": {
        "input_tokens": 150, "output_tokens": 7}}},
    {"type": "result", "is_error": True, "result": "API Error: 502 upstream", "usage": {"input_tokens": 1}},
]


def test_claude_code_trace_from_its_events():
    trace, session = claude_trace.fold(CLAUDE_EVENTS)
    assert session == "s-1" and trace.model_calls == 2 and trace.compacted
    assert (trace.tokens_in, trace.tokens_out, trace.context_tokens) == (250, 12, 150)
    bash, edit = trace.tool_calls
    assert (bash.name, bash.status, bash.output) == ("Bash", "error", "Exit code 2")
    assert edit.status == "error" and "no result" in edit.output, "a call the step never answered"
    assert trace.text == "Done." and trace.errors == ["API Error: 502 upstream"]
    assert [claude_trace.count(e) for e in CLAUDE_EVENTS[1:3]] == [(1, 0), (0, 105)]
    assert not claude_trace.keep({"type": "stream_event", "event": {"type": "content_block_delta"}})


def test_scripted_dialects_are_told_apart_by_tool_names():
    names = [d.names() for d in DIALECTS.values()]
    assert all(a.isdisjoint(b) for i, a in enumerate(names) for b in names[i + 1:])
    assert DIALECTS["claude-code"].edit == ("Edit", "file_path", "old_string", "new_string")


def test_messages_front_end_carries_a_system_turn_inside_messages():
    chat = to_chat({"max_tokens": 10, "system": "S", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "# Environment"}]}]})
    assert [(m["role"], m["content"]) for m in chat["messages"]] == [
        ("system", "S"), ("user", "hi"), ("system", "# Environment")]
