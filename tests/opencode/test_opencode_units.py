"""The OpenCode harness without the binary: config, environment, directories, trace, doctor."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from goaldrift.agents.base import AgentSession
from goaldrift.agents.opencode.config import RunDirs, Settings, build_config, build_env
from goaldrift.agents.opencode.trace import build_trace
from goaldrift.errors import ConfigError


def _session(tmp_path: Path, **kw) -> AgentSession:
    return AgentSession(workspace=tmp_path / "ws", base_url="http://127.0.0.1:9/r/tok/v1", api_key="gd-tok",
                        model="scripted", constraint="Never export raw e-mail addresses.", **kw)


def test_environment_is_an_allow_list(tmp_path: Path):
    dirs = RunDirs.under(tmp_path / "s").create()
    parent = {"PATH": "/usr/bin", "OPENAI_API_KEY": "sk-x", "AWS_SECRET_ACCESS_KEY": "y", "HOME": "/root",
              "XDG_DATA_HOME": "/home/someone/.local/share", "GITHUB_TOKEN": "z", "LANG": "C.UTF-8"}
    env = build_env(dirs, {"a": 1}, server_password="pw", parent=parent)
    assert "sk-x" not in json.dumps(env) and "GITHUB_TOKEN" not in env and "AWS_SECRET_ACCESS_KEY" not in env
    assert env["HOME"] == str(dirs.home) and env["XDG_DATA_HOME"] == str(dirs.data)
    assert all(env[k].startswith(str(dirs.root)) for k in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                                                            "XDG_STATE_HOME", "TMPDIR"))
    assert env["OPENCODE_DISABLE_AUTOUPDATE"] == env["OPENCODE_DISABLE_MODELS_FETCH"] == "1"
    assert json.loads(env["OPENCODE_CONFIG_CONTENT"]) == {"a": 1}
    assert env["OPENCODE_SERVER_PASSWORD"] == "pw"


def test_config_pins_the_model_to_the_route(tmp_path: Path):
    dirs = RunDirs.under(tmp_path / "s").create()
    cfg = build_config(_session(tmp_path), dirs, Settings())
    provider = cfg["provider"]["gd"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"] == {"baseURL": "http://127.0.0.1:9/r/tok/v1", "apiKey": "gd-tok"}
    assert cfg["model"] == cfg["small_model"] == "gd/scripted"
    assert cfg["snapshot"] is False and cfg["share"] == "disabled" and cfg["autoupdate"] is False
    assert cfg["permission"]["edit"] == cfg["permission"]["bash"] == "allow"
    assert cfg["permission"]["webfetch"] == "deny" and cfg["permission"]["question"] == "deny"
    assert "instructions" not in cfg and "agent" not in cfg  # agents_md: the workspace holds it


def test_placements(tmp_path: Path):
    dirs = RunDirs.under(tmp_path / "s").create()
    cfg = build_config(_session(tmp_path, placement="instructions"), dirs, Settings())
    assert cfg["instructions"] == [str(dirs.instructions_file)]
    assert dirs.instructions_file.read_text().strip() == "Never export raw e-mail addresses."
    cfg = build_config(_session(tmp_path, placement="system_prompt"), dirs, Settings())
    assert cfg["agent"]["goaldrift"]["prompt"] == "Never export raw e-mail addresses."
    assert cfg["default_agent"] == "goaldrift"
    with pytest.raises(ConfigError):
        build_config(_session(tmp_path, placement="nowhere"), dirs, Settings())
    with pytest.raises(ConfigError):
        Settings.from_options({"driver": "telnet"})
    with pytest.raises(ConfigError):
        Settings.from_options({"sandbx": "none"})


def test_trace_from_opencode_messages():
    def step_finish(i, o, reason):
        return {"type": "step-finish", "reason": reason, "tokens": {"input": i, "output": o, "reasoning": 0,
                                                                    "cache": {"read": 0, "write": 0}}}
    messages = [
        {"info": {"id": "msg_1", "role": "user"}, "parts": [{"type": "text", "text": "do it"}]},
        {"info": {"id": "msg_2", "role": "assistant"}, "parts": [
            {"type": "step-start"},
            {"type": "tool", "tool": "write", "state": {"status": "completed", "input": {"filePath": "/w/a"},
                                                        "output": "Wrote file successfully."}},
            {"type": "tool", "tool": "bash", "state": {"status": "error", "input": {"command": "x"},
                                                       "error": "boom"}},
            step_finish(1000, 20, "tool-calls")]},
        {"info": {"id": "msg_3", "role": "user"}, "parts": [{"type": "compaction", "auto": True}]},
        {"info": {"id": "msg_4", "role": "assistant", "summary": True}, "parts": [
            {"type": "text", "text": "summary of the work"}, step_finish(1500, 30, "stop")]},
        {"info": {"id": "msg_5", "role": "assistant",
                  "error": {"name": "APIError", "data": {"message": "Bad Gateway", "statusCode": 502}}},
         "parts": [{"type": "text", "text": "Done."}, step_finish(400, 5, "stop")]},
    ]
    t = build_trace(messages)
    assert [(c.name, c.status, c.output) for c in t.tool_calls] == [
        ("write", "completed", "Wrote file successfully."), ("bash", "error", "boom")]
    assert t.tool_calls[0].input == {"filePath": "/w/a"}
    assert t.text == "Done." and t.raw["compaction_summaries"] == ["summary of the work"]
    assert t.compacted
    assert t.model_calls == 3 and t.tokens_in == 2900 and t.tokens_out == 55 and t.context_tokens == 400
    assert t.errors == ["APIError (HTTP 502): Bad Gateway"]


def test_goaldrift_files_live_outside_the_agents_writable_directory(tmp_path: Path):
    """Logs and the constraint file are in ``host``, never under ``root`` (which the sandbox binds
    writable); the host directory is private to goaldrift's user."""
    dirs = RunDirs.under(tmp_path / "s").create()
    for path in (dirs.logs, dirs.instructions_file):
        assert not path.is_relative_to(dirs.root)
    assert (dirs.host.stat().st_mode & 0o777) == 0o700


def test_baseurl_can_point_at_the_sandbox_relay(tmp_path: Path):
    cfg = build_config(_session(tmp_path), RunDirs.under(tmp_path / "s").create(), Settings(),
                       base_url="http://127.0.0.1:18080/r/tok/v1")
    assert cfg["provider"]["gd"]["options"]["baseURL"] == "http://127.0.0.1:18080/r/tok/v1"


def test_registry_knows_opencode():
    from goaldrift.agents.opencode import OpenCodeAgent
    from goaldrift.agents.registry import create_agent

    agent = create_agent("opencode", {"driver": "run"})
    assert isinstance(agent, OpenCodeAgent) and agent.name == "opencode"
    assert agent.version().startswith("opencode ")


def test_doctor_names_what_is_missing_and_the_fix(tmp_path: Path, monkeypatch):
    from goaldrift.cli import typer_app

    monkeypatch.setenv("GOALDRIFT_HOME", str(tmp_path / "empty"))
    monkeypatch.delenv("GOALDRIFT_OPENCODE", raising=False)
    result = CliRunner().invoke(typer_app, ["doctor", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    oc = next(c for c in report["checks"] if c["name"] == "opencode")
    assert oc["status"] == "missing" and oc["fix"] == "goaldrift install-opencode"
    assert {c["name"] for c in report["checks"]} >= {"python", "goaldrift", "node", "npm", "opencode",
                                                     "sandbox", "network isolation", "gateway route", "process limit",
                                                     "llama-cpp-python", "local model"}


def test_disabled_tools_become_config_entries(tmp_path):
    from goaldrift.agents.base import AgentSession
    from goaldrift.agents.opencode.config import RunDirs, Settings, build_config

    settings = Settings.from_options({"disabled_tools": ["task", "todowrite"]})
    session = AgentSession(workspace=tmp_path, base_url="http://127.0.0.1:1/v1", api_key="t", model="m")
    config = build_config(session, RunDirs.under(tmp_path / "scratch"), settings)
    assert config["tools"] == {"task": False, "todowrite": False}
    assert "tools" not in build_config(session, RunDirs.under(tmp_path / "scratch"), Settings())
