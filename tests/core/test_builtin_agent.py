"""The builtin agent: tools confined to the workspace, limits enforced and recorded."""

from __future__ import annotations

import asyncio
import json
import os
import shutil

import pytest

from goaldrift.agents.base import AgentLimits, AgentSession
from goaldrift.agents.builtin import BuiltinAgent
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.chunks import message_chunks, tool_call, usage

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")


class Puppet:
    """A backend that replays a fixed list of replies (tool calls or text), then repeats the last."""

    name = "puppet"
    model = "puppet"

    def __init__(self, replies, delay: float = 0.0):
        self.replies = list(replies)
        self.delay = delay
        self.requests = []

    async def aclose(self):
        return None

    async def stream(self, request, ctx):
        self.requests.append(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        reply = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        if isinstance(reply, str):
            chunks = message_chunks("puppet", content=reply, usage_=usage(100, 10))
        else:
            chunks = message_chunks("puppet", tool_calls=[tool_call(*reply)], usage_=usage(100, 10))
        for c in chunks:
            yield c


def drive(tmp_path, replies, limits=AgentLimits(), delay=0.0, prompt="do it", sandbox="auto"):
    backend = Puppet(replies, delay)

    async def go():
        async with Gateway() as gw:
            route = gw.open_route(backend)
            agent = BuiltinAgent()
            session = AgentSession(workspace=tmp_path, base_url=gw.url_for(route), api_key=route.token,
                                   model="puppet", limits=limits, options={"sandbox": sandbox})
            await agent.start(session)
            try:
                return await agent.step(1, prompt)
            finally:
                await agent.stop()

    return asyncio.run(go()), backend


def test_tools_edit_files_and_agents_md_reaches_the_system_prompt(tmp_path):
    (tmp_path / "AGENTS.md").write_text("RULE: always anonymise.")
    (tmp_path / "a.py").write_text("x = 1\n")
    trace, backend = drive(tmp_path, [
        ("read_file", {"path": "a.py"}),
        ("edit_file", {"path": "a.py", "old": "x = 1", "new": "x = 2"}),
        ("write_file", {"path": "pkg/new.py", "content": "y = 3\n"}),
        ("edit_file", {"path": "a.py", "old": "missing", "new": ""}),
        ("finish", {"summary": "done"}),
    ])
    assert (tmp_path / "a.py").read_text() == "x = 2\n"
    assert (tmp_path / "pkg" / "new.py").read_text() == "y = 3\n"
    assert [t.status for t in trace.tool_calls] == ["completed", "completed", "completed", "error", "completed"]
    assert "occurs 0 times" in trace.tool_calls[3].output
    assert trace.model_calls == 5 and trace.tokens_in == 500 and trace.context_tokens == 100
    assert all("RULE: always anonymise." in r["messages"][0]["content"] for r in backend.requests)


def test_paths_cannot_leave_the_workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    trace, _ = drive(ws, [("write_file", {"path": "../escape.py", "content": "x"}),
                          ("read_file", {"path": "/etc/passwd"}), "ok"])
    assert not (tmp_path / "escape.py").exists()
    assert [t.status for t in trace.tool_calls] == ["error", "error"]


@needs_bwrap
def test_shell_commands_are_sandboxed(tmp_path, monkeypatch):
    """Writes outside the workspace fail, the environment holds no keys, the host's loopback is unreachable."""
    import socket
    import uuid

    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    outside = f"/var/tmp/goaldrift-probe-{uuid.uuid4().hex}"
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    port = server.getsockname()[1]
    command = (f"echo inside > made.txt; echo bad > {outside}; echo rc=$?; env; "
               f"python -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 2)' 2>&1 | tail -1")
    try:
        trace, _ = drive(tmp_path, [("run", {"command": command}), "done"])
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    out = trace.tool_calls[0].output
    assert (tmp_path / "made.txt").read_text() == "inside\n"
    # /var/tmp is not even in the sandbox's view (allow-list), so the write fails either way
    assert not os.path.exists(outside) and "rc=0" not in out and "rc=" in out
    assert "sk-must-not-leak" not in out and "OPENAI_API_KEY" not in out
    assert "ConnectionRefusedError" in out or "unreachable" in out


def test_command_timeout_kills_the_command(tmp_path):
    limits = AgentLimits(command_timeout_s=1)
    trace, _ = drive(tmp_path, [("run", {"command": "sleep 30"}), "done"], limits=limits)
    assert "timed out" in trace.tool_calls[0].output


def test_tool_call_limit_is_enforced_and_recorded(tmp_path):
    trace, _ = drive(tmp_path, [("list_files", {})], limits=AgentLimits(max_tool_calls=3))
    assert len(trace.tool_calls) == 3 and trace.limit_hit == "tool_calls"


def test_wall_time_limit_ends_a_hung_step(tmp_path):
    backend_delay = 5.0
    limits = AgentLimits(wall_time_s=1.0)
    trace, backend = drive(tmp_path, ["never"], limits=limits, delay=backend_delay)
    assert trace.limit_hit == "wall_time" and trace.errors


def test_gateway_errors_are_recorded_not_raised(tmp_path):
    class Broken(Puppet):
        async def stream(self, request, ctx):
            from goaldrift.errors import BackendError

            raise BackendError("upstream down")
            yield  # pragma: no cover

    async def go():
        async with Gateway() as gw:
            route = gw.open_route(Broken([]))
            agent = BuiltinAgent()
            await agent.start(AgentSession(workspace=tmp_path, base_url=gw.url_for(route), api_key=route.token,
                                           model="m", options={"sandbox": "none"}))
            try:
                return await agent.step(1, "x")
            finally:
                await agent.stop()

    trace = asyncio.run(go())
    assert trace.errors and "HTTP 502" in trace.errors[0] and "upstream down" in trace.errors[0]
    assert json.loads(json.dumps(trace.to_dict()))["errors"] == trace.errors


def test_symlinks_cannot_lead_file_tools_outside_the_workspace(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    (ws / "link").symlink_to(secret)
    (ws / "dirlink").symlink_to(tmp_path)
    trace, _ = drive(ws, [("read_file", {"path": "link"}), ("write_file", {"path": "dirlink/x.py", "content": "x"}),
                          ("edit_file", {"path": "link", "old": "TOP", "new": "NO"}), "done"])
    assert [t.status for t in trace.tool_calls] == ["error", "error", "error"]
    assert all("outside the repository" in t.output for t in trace.tool_calls)
    assert secret.read_text() == "TOP SECRET" and not (tmp_path / "x.py").exists()


def test_huge_command_output_is_bounded(tmp_path):
    trace, _ = drive(tmp_path, [("run", {"command": "yes abc | head -c 30000000; echo; echo END"}), "done"],
                     sandbox="none")
    out = trace.tool_calls[0].output
    assert len(out) < 10_000 and "bytes of output left out" in out and out.rstrip().endswith("END")
