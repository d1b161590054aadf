"""The command-line harness drivers without their binaries: the pinned installer's table and CLI,
typed options checked at load (exit 2), command lines and environments, traces from recorded event
shapes, the scripted model's dialects, and the Messages front-end's system turns."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
import yaml
from tests.conftest import run_cli

from goaldrift.agents import stream_json
from goaldrift.agents.base import AgentLimits, AgentSession
from goaldrift.agents.codex import trace as codex_trace
from goaldrift.agents.npm_harness import HARNESS_PACKAGES, harness_package
from goaldrift.agents.registry import HARNESSES, create_agent
from goaldrift.errors import ConfigError, UnsafeFile
from goaldrift.gateway.backends.dialects import DIALECTS, dialect_for
from goaldrift.gateway.protocols.anthropic_messages import to_chat


def test_every_pinned_harness_is_registered_and_installable():
    assert set(HARNESS_PACKAGES) == {"opencode", "claude-code", "codex", "qwen-code"}
    assert {"claude-code", "codex"} <= set(HARNESSES)
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


@pytest.mark.parametrize("harness", ["claude-code", "codex"])
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
    trace, session = stream_json.fold(CLAUDE_EVENTS)
    assert session == "s-1" and trace.model_calls == 2 and trace.compacted
    assert (trace.tokens_in, trace.tokens_out, trace.context_tokens) == (250, 12, 150)
    bash, edit = trace.tool_calls
    assert (bash.name, bash.status, bash.output) == ("Bash", "error", "Exit code 2")
    assert edit.status == "error" and "no result" in edit.output, "a call the step never answered"
    assert trace.text == "Done." and trace.errors == ["API Error: 502 upstream"]
    assert [stream_json.count(e) for e in CLAUDE_EVENTS[1:3]] == [(1, 0), (0, 105)]
    assert not stream_json.keep({"type": "stream_event", "event": {"type": "content_block_delta"}})


def test_scripted_dialects_are_told_apart_by_tool_names():
    for dialect in DIALECTS.values():  # no dialect's tools are a subset of another's: each is found
        assert dialect_for(dialect.names() | {"Bash", "glob"}) is dialect
    assert DIALECTS["claude-code"].edit == ("Edit", "file_path", "old_string", "new_string")


def test_messages_front_end_carries_a_system_turn_inside_messages():
    chat = to_chat({"max_tokens": 10, "system": "S", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "text", "text": "# Environment"}]}]})
    assert [(m["role"], m["content"]) for m in chat["messages"]] == [
        ("system", "S"), ("user", "hi"), ("system", "# Environment")]


def test_codex_command_line_configures_only_the_gateway_and_the_placements(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-parent")
    agent = _started("codex", tmp_path / "a")
    assert agent._env["GD_GATEWAY_TOKEN"] == "gd-token" and "sk-parent" not in json.dumps(agent._env)
    assert agent._env["CODEX_HOME"] == str(agent.dirs.home / ".codex")
    argv = agent.argv("do it")
    config = dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-c")
    assert config["model_provider"] == '"gd"' and 'wire_api="responses"' in config["model_providers.gd"]
    assert 'base_url="http://127.0.0.1:9/r/gd-token/v1"' in config["model_providers.gd"]
    assert "request_max_retries=2, stream_max_retries=0" in config["model_providers.gd"]
    assert "--dangerously-bypass-approvals-and-sandbox" in argv and argv[-1] == "do it" and "resume" not in argv
    agent.session_id = "t-1"
    assert agent.argv("again")[-3:] == ["resume", "t-1", "again"]

    instructions = _started("codex", tmp_path / "b", "instructions")
    global_md = instructions.dirs.home / ".codex" / "AGENTS.md"
    assert global_md.read_text() == "NEVER LOG PII\n" and global_md in instructions._readonly
    developer = _started("codex", tmp_path / "c", "system_prompt")
    assert any(a == 'developer_instructions="NEVER LOG PII"' for a in developer.argv("x"))
    replace = _started("codex", tmp_path / "d", "system_prompt", {"prompt_mode": "replace"})
    prompt_file = next(a for a in replace.argv("x") if a.startswith("model_instructions_file="))
    assert Path(json.loads(prompt_file.split("=", 1)[1])) in replace._readonly


CODEX_EVENTS = [
    {"type": "thread.started", "thread_id": "t-1"},
    {"type": "item.completed", "item": {"id": "i0", "type": "error", "message": "Model metadata not found"}},
    {"type": "turn.started"},
    {"type": "item.started", "item": {"id": "i1", "type": "command_execution", "command": "pytest"}},
    {"type": "item.completed", "item": {"id": "i1", "type": "command_execution", "command": "pytest",
                                        "aggregated_output": "1 failed", "exit_code": 1, "status": "failed"}},
    {"type": "item.started", "item": {"id": "i2", "type": "command_execution", "command": "sleep 99"}},
    {"type": "item.completed", "item": {"id": "i3", "type": "agent_message", "text": "Done."}},
    {"type": "turn.completed", "usage": {"input_tokens": 300, "output_tokens": 20}},
]
CODEX_SESSION = [
    {"type": "event_msg", "payload": {"type": "token_count", "info": {"last_token_usage": {
        "input_tokens": 100, "output_tokens": 5}}}},
    {"type": "event_msg", "payload": {"type": "context_compacted"}},
    {"type": "event_msg", "payload": {"type": "token_count", "info": {"last_token_usage": {
        "input_tokens": 200, "output_tokens": 15}}}},
]


def test_codex_trace_from_its_events_and_session_file(tmp_path):
    trace, thread = codex_trace.fold(CODEX_EVENTS, CODEX_SESSION)
    assert thread == "t-1" and trace.errors == [] and trace.warnings == ["Model metadata not found"]
    pytest_call, sleeping = trace.tool_calls
    assert (pytest_call.status, pytest_call.output, pytest_call.input) == ("error", "1 failed", {"command": "pytest"})
    assert sleeping.status == "error" and "no result" in sleeping.output
    assert (trace.model_calls, trace.tokens_in, trace.tokens_out, trace.context_tokens) == (2, 300, 20, 200)
    assert trace.compacted and trace.text == "Done."
    assert [codex_trace.count(e) for e in (CODEX_EVENTS[3], CODEX_EVENTS[-1])] == [(1, 0), (0, 320)]
    failed, _ = codex_trace.fold([{"type": "turn.failed", "error": {"message": "HTTP 502"}}], [])
    assert failed.errors == ["HTTP 502"]

    home = tmp_path / "codex"
    day = home / "sessions" / "2026" / "11" / "28"
    day.mkdir(parents=True)
    record = day / "rollout-2026-11-28T08-00-00-t-1.jsonl"
    record.write_text(json.dumps(CODEX_SESSION[0]) + "\n" + '{"partial": ')
    reader = codex_trace.SessionFile(home)
    assert reader.read_new("t-1") == [CODEX_SESSION[0]]
    with record.open("a") as f:
        f.write('1}\n')
    assert reader.read_new("t-1") == [{"partial": 1}], "only whole lines, each once"
    record.unlink()
    record.symlink_to("/etc/passwd")
    with pytest.raises(UnsafeFile):
        reader.read_new("t-1")


def test_codex_shell_dialect_writes_and_edits_through_a_shell(tmp_path):
    from goaldrift.scenario import EditOp, WriteOp

    shell = DIALECTS["codex"]
    target = tmp_path / "app" / "a.py"
    tricky = "x = 'GOALDRIFT_EOF'\ny = \"$HOME `id`\"\n"
    for op in (WriteOp(op="write", path="app/a.py", content=tricky),
               EditOp(op="edit", path="app/a.py", old="$HOME", new="home")):
        args = json.loads(shell.change(op, str(target))["function"]["arguments"])
        assert args["login"] is False
        done = subprocess.run(["bash", "-c", args["cmd"]], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    assert target.read_text() == tricky.replace("$HOME", "home")
    missing = json.loads(shell.change(EditOp(op="edit", path="app/a.py", old="absent", new="x"), str(target))["function"]["arguments"])
    assert subprocess.run(["bash", "-c", missing["cmd"]], capture_output=True, check=False).returncode != 0


FAKE_HARNESS = """#!/bin/sh
if [ "$1" = "--version" ]; then echo "0.0.1"; exit 0; fi
echo '{"type": "item.completed", "item": {"id": "i0", "type": "error", "message": "Model metadata not found"}}'
"""


@pytest.mark.parametrize("harness", ["claude-code", "codex", "qwen-code"])
def test_harness_warnings_reach_the_step_trace(harness, tmp_path):
    """A binary other than the pinned version warns once, at step 1, in ``trace.warnings`` (what
    ``score_step`` shows), beside what the harness itself warned of (Codex's item of type error)."""
    fake = tmp_path / "fake-harness"
    fake.write_text(FAKE_HARNESS)
    fake.chmod(0o755)
    ws = tmp_path / "ws"
    ws.mkdir()
    session = AgentSession(workspace=ws, base_url="http://127.0.0.1:9/r/gd-token/v1", api_key="gd-token",
                           model="m", placement="agents_md", constraint="NEVER LOG PII",
                           limits=AgentLimits(wall_time_s=60), scratch=tmp_path / "agent",
                           options={"sandbox": "none", "binary": str(fake)})
    agent = create_agent(harness)

    async def two_steps():
        await agent.start(session)
        try:
            return await agent.step(1, "do it"), await agent.step(2, "again")
        finally:
            await agent.stop()

    first, second = asyncio.run(two_steps())
    package = HARNESS_PACKAGES[harness]
    version = f"binary {fake.resolve()} is {package.label} 0.0.1, not the pinned {package.version}"
    own = ["Model metadata not found"] if harness == "codex" else []
    assert first.warnings == [*own, version]
    assert second.warnings == own, "the version warning is recorded once, at step 1"
    assert "warnings" not in first.raw
