"""The builtin agent: tools confined to the workspace, limits enforced and recorded."""

from __future__ import annotations

import asyncio
import json
import os
import re
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


def drive(tmp_path, replies, limits=AgentLimits(), delay=0.0, prompt="do it", sandbox="auto", placement="agents_md",
          constraint="", toolchain=None):
    backend = Puppet(replies, delay)

    async def go():
        async with Gateway() as gw:
            route = gw.open_route(backend)
            agent = BuiltinAgent()
            session = AgentSession(workspace=tmp_path, base_url=gw.url_for(route), api_key=route.token,
                                   model="puppet", limits=limits, options={"sandbox": sandbox},
                                   placement=placement, constraint=constraint, toolchain=toolchain)
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


def test_system_prompt_placement_opens_the_system_prompt_with_the_constraint(tmp_path):
    """The constraint is the first text of the system message of every request, the agent's tool
    instructions and the project notes (AGENTS.md, which here holds no constraint) follow."""
    (tmp_path / "AGENTS.md").write_text("NOTES: the service stores records.")
    _, backend = drive(tmp_path, [("read_file", {"path": "AGENTS.md"}), "ok"], placement="system_prompt",
                       constraint="RULE: always anonymise.\n")
    assert len(backend.requests) == 2
    for r in backend.requests:
        system = r["messages"][0]
        assert system["role"] == "system" and system["content"].startswith("RULE: always anonymise.")
        assert "read_file" in system["content"] and "NOTES: the service stores records." in system["content"]


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


@pytest.mark.parametrize("sandbox", [pytest.param("auto", marks=needs_bwrap), "none"])
def test_command_timeout_kills_the_command(tmp_path, sandbox):
    """Not only "timed out" in the output: the command and its children are gone, and nothing it
    would have done after the limit happens. (``sleep 300`` would outlive the test if not killed.)"""
    import time

    import psutil

    tag = f"300.{os.getpid()}{len(str(tmp_path))}"
    limits = AgentLimits(command_timeout_s=1)
    command = f"(sleep {tag}; touch child-late) & sleep {tag}; touch late"
    trace, _ = drive(tmp_path, [("run", {"command": command}), "done"], limits=limits, sandbox=sandbox)
    said = re.fullmatch(r"command timed out after (\d+) s and was killed", trace.tool_calls[0].output)
    assert said and 1 <= int(said[1]) < 300, trace.tool_calls[0].output  # the seconds it ran, not a clock reading

    def alive():
        return [p for p in psutil.process_iter(["cmdline"]) if tag in " ".join(p.info["cmdline"] or [])]

    deadline = time.monotonic() + 20  # generous: a kill is immediate, the sleeps last 300 s
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive() == []
    assert not (tmp_path / "late").exists() and not (tmp_path / "child-late").exists()


@pytest.mark.parametrize("sandbox", [pytest.param("auto", marks=needs_bwrap), "none"])
def test_a_command_runs_in_the_workspace_with_its_errors_and_without_goaldrift_s_stdin(tmp_path, sandbox):
    """The model sees what the command wrote to stderr too, the command starts in the workspace, and it
    cannot read goaldrift's own stdin (a terminal, or here a pipe holding a secret): its stdin is empty."""
    read_end, write_end = os.pipe()
    os.write(write_end, b"stdin-secret\n")
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    os.close(read_end)
    try:
        trace, _ = drive(tmp_path, [("run", {"command": "pwd; echo to-stderr >&2; cat; echo after-cat"}), "done"],
                         sandbox=sandbox)
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    out = trace.tool_calls[0].output
    assert out.splitlines() == ["exit code 0", str(tmp_path.resolve()), "to-stderr", "after-cat"]


@needs_bwrap
def test_the_pack_s_toolchain_is_first_on_the_command_s_path_and_read_only(tmp_path):
    """A pack's pinned compiler: its bin folder comes first on PATH (the rest of PATH still works) and
    the agent's command cannot change it."""
    from goaldrift.toolchains import Mount

    root = tmp_path / "chain"
    (root / "node_modules" / ".bin").mkdir(parents=True)
    tsc = root / "node_modules" / ".bin" / "tsc"
    tsc.write_text("#!/bin/sh\necho pinned-tsc\n")
    tsc.chmod(0o755)
    ws = tmp_path / "ws"
    ws.mkdir()
    command = f"tsc; echo x > {tsc}; echo rc=$?; ls {root}"
    trace, _ = drive(ws, [("run", {"command": command}), "done"], toolchain=Mount(root, tsc.parent))
    out = trace.tool_calls[0].output
    assert out.splitlines()[:2] == ["exit code 0", "pinned-tsc"]
    assert "rc=0" not in out and "rc=" in out and out.rstrip().endswith("node_modules")
    assert tsc.read_text() == "#!/bin/sh\necho pinned-tsc\n"


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


def test_long_command_output_keeps_its_exact_head_and_tail_and_counts_what_is_left_out(tmp_path):
    """200 000 bytes in several reads: the first and the last (MAX_OUTPUT − 200) // 2 bytes are kept
    as written, and the notice counts exactly the bytes between them."""
    from goaldrift.agents.builtin import MAX_OUTPUT

    script = tmp_path / "emit.py"
    script.write_text("import sys\nsys.stdout.write(''.join(f'{i:07d}\\n' for i in range(25_000)))\n")
    trace, _ = drive(tmp_path, [("run", {"command": f"python {script}"}), "done"], sandbox="none")
    written = "".join(f"{i:07d}\n" for i in range(25_000))
    half = (MAX_OUTPUT - 200) // 2
    assert trace.tool_calls[0].output == (f"exit code 0\n{written[:half]}\n... [{len(written) - 2 * half} bytes "
                                          f"of output left out] ...\n{written[-half:]}")



def test_output_between_one_and_two_halves_is_kept_whole_without_a_notice(tmp_path):
    """More than the head holds but less than head + tail: nothing is left out, so no notice."""
    from goaldrift.agents.builtin import MAX_OUTPUT

    half = (MAX_OUTPUT - 200) // 2
    script = tmp_path / "emit.py"
    script.write_text(f"import sys\nsys.stdout.write('x' * {half} + 'y' * 100)\n")
    trace, _ = drive(tmp_path, [("run", {"command": f"python {script}"}), "done"], sandbox="none")
    assert trace.tool_calls[0].output == f"exit code 0\n{'x' * half}{'y' * 100}"


def test_output_that_is_not_utf8_is_shown_with_replacement_characters(tmp_path):
    """Bytes that are not UTF-8, in the head and in the tail of long output, never fail the tool call."""
    from goaldrift.agents.builtin import MAX_OUTPUT

    half = (MAX_OUTPUT - 200) // 2
    script = tmp_path / "emit.py"
    script.write_text(f"import sys\nsys.stdout.buffer.write(b'\\xffhead' + b'x' * {3 * half} + b'tail\\xfe')\n")
    trace, _ = drive(tmp_path, [("run", {"command": f"python {script}"}), "done"], sandbox="none")
    out = trace.tool_calls[0].output
    assert out.startswith("exit code 0\n\ufffdhead") and out.endswith("tail\ufffd"), out[:40] + out[-40:]


# --------------------------------------------------------------------------------------------------
# Robustness for small models (agent options; see BuiltinSettings)


def drive_with(tmp_path, replies, options, limits=AgentLimits(), model="puppet"):
    backend = Puppet(replies)

    async def go():
        async with Gateway() as gw:
            route = gw.open_route(backend)
            agent = BuiltinAgent(options)
            session = AgentSession(workspace=tmp_path, base_url=gw.url_for(route), api_key=route.token,
                                   model=model, limits=limits, options={"sandbox": "none"})
            await agent.start(session)
            try:
                return await agent.step(1, "do it")
            finally:
                await agent.stop()

    return asyncio.run(go()), backend


def test_absolute_paths_inside_the_workspace_are_accepted(tmp_path):
    ws = tmp_path / "ws"
    (ws / "pkg").mkdir(parents=True)
    trace, backend = drive_with(ws, [
        ("write_file", {"path": str(ws / "pkg" / "a.py"), "content": "x = 1\n"}),
        ("read_file", {"path": str(ws.resolve() / "pkg" / "a.py")}),
        ("write_file", {"path": str(tmp_path / "outside.py"), "content": "x"}),
        ("finish", {"summary": "done"}),
    ], {})
    assert (ws / "pkg" / "a.py").read_text() == "x = 1\n" and not (tmp_path / "outside.py").exists()
    assert [t.status for t in trace.tool_calls] == ["completed", "completed", "error", "completed"]
    assert trace.tool_calls[0].output == "wrote pkg/a.py (2 lines)" and trace.tool_calls[1].output == "x = 1"
    assert "outside the repository" in trace.tool_calls[2].output and "relative" in trace.tool_calls[2].output
    assert str(ws) not in backend.requests[0]["messages"][0]["content"]  # the prompt no longer shows it
    assert trace.raw["settings"]["absolute_paths"] is True


def test_absolute_paths_can_be_refused(tmp_path):
    trace, _ = drive_with(tmp_path, [("write_file", {"path": str(tmp_path / "a.py"), "content": "x"}), "ok"],
                          {"absolute_paths": False, "workspace_in_prompt": True})
    assert trace.tool_calls[0].status == "error" and "must be relative" in trace.tool_calls[0].output
    assert not (tmp_path / "a.py").exists()


def test_a_repeated_failing_call_is_corrected_then_ends_the_step(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "real.py").write_text("x = 1\n")
    trace, backend = drive_with(tmp_path, [("read_file", {"path": "pkg/missing.py"})], {"repeat_limit": 3},
                                limits=AgentLimits(max_tool_calls=40))
    outputs = [t.output for t in trace.tool_calls]
    assert len(outputs) == 3 and len(backend.requests) == 3  # not 40 calls, not the wall clock
    assert "pkg/missing.py does not exist" in outputs[0] and "pkg/real.py" in outputs[0]  # how to recover
    assert "already did exactly this" not in outputs[0] and "already did exactly this" in outputs[1]
    assert trace.limit_hit == "repeated_call" and "3 times" in trace.errors[0]


def test_a_repeated_successful_call_only_gets_the_notice(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    trace, _ = drive_with(tmp_path, [("read_file", {"path": "a.py"})], {"repeat_limit": 2},
                          limits=AgentLimits(max_tool_calls=4))
    assert trace.limit_hit == "tool_calls" and not trace.errors
    assert "already did exactly this" in trace.tool_calls[1].output


def test_finish_and_text_answers_wait_for_a_change(tmp_path):
    trace, backend = drive_with(tmp_path, [
        ("finish", {"summary": "nothing to do"}),
        "Here is the code you asked for.",
        ("write_file", {"path": "a.py", "content": "x = 1\n"}),
        ("finish", {"summary": "done"}),
    ], {"finish_requires_change": True})
    assert [t.status for t in trace.tool_calls] == ["error", "completed", "completed"]
    assert "no file has been changed" in trace.tool_calls[0].output
    # the text-only answer got a corrective message instead of ending the step
    assert "no file has been changed" in backend.requests[2]["messages"][-1]["content"]
    assert (tmp_path / "a.py").read_text() == "x = 1\n" and not trace.errors


def test_chat_template_tokens_and_placeholders_are_never_file_content(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    trace, _ = drive_with(tmp_path, [
        ("write_file", {"path": "a.py", "content": "<tool_response>"}),
        ("edit_file", {"path": "a.py", "old": "x = 1", "new": "x = 2<|im_end|>"}),
        ("write_file", {"path": "b.py", "content": "y = 1\n</tool_call>\n"}),
        ("write_file", {"path": "b.py", "content": "<file-content>\n"}),
        ("edit_file", {"path": "a.py", "old": "x = 1", "new": " <code></code> "}),
        ("finish", {"summary": "done"}),
    ], {})
    assert [t.status for t in trace.tool_calls] == ["error"] * 5 + ["completed"]
    assert all("chat-template markup" in t.output for t in trace.tool_calls[:3])
    assert all("only the placeholder" in t.output for t in trace.tool_calls[3:5])
    assert (tmp_path / "a.py").read_text() == "x = 1\n" and not (tmp_path / "b.py").exists()


def test_whole_file_edit_format(tmp_path):
    (tmp_path / "pkg").mkdir()
    reply = ("I will create the module.\n\n**pkg/lists.py**\n```python\ndef lists():\n    return []\n```\n\n"
             "```python\n# pkg/more.py\nMORE = 1\n```\n\nand\n\n```\norphan = 1\n```\n")
    trace, backend = drive_with(tmp_path, [reply, ("finish", {"summary": "done"})],
                                {"edit_format": {"puppet": "whole", "default": "tools"}})
    assert (tmp_path / "pkg" / "lists.py").read_text() == "def lists():\n    return []\n"
    assert (tmp_path / "pkg" / "more.py").read_text() == "# pkg/more.py\nMORE = 1\n"
    assert [(t.name, t.input["path"], t.status) for t in trace.tool_calls[:2]] == [
        ("write_file", "pkg/lists.py", "completed"), ("write_file", "pkg/more.py", "completed")]
    names = [t["function"]["name"] for t in backend.requests[0]["tools"]]
    assert "write_file" not in names and "edit_file" not in names and "finish" in names
    assert "fenced code block" in backend.requests[0]["messages"][0]["content"]
    feedback = backend.requests[1]["messages"][-1]
    assert feedback["role"] == "user" and "wrote pkg/lists.py" in feedback["content"]
    assert "no file path" in feedback["content"]  # the orphan block
    assert trace.raw["settings"]["edit_format"] == "whole"


def test_constrained_paths_in_the_tool_schemas(tmp_path):
    import re

    (tmp_path / "crm" / "exports").mkdir(parents=True)
    (tmp_path / "crm" / "exporting.py").write_text("x = 1\n")
    trace, backend = drive_with(tmp_path, [
        ("write_file", {"path": "nowhere/new.py", "content": "x = 1\n"}),
        ("write_file", {"path": "crm/exports/new.py", "content": "x = 1\n"}),
        ("finish", {"summary": "done"}),
    ], {"constrain_paths": True})
    tools = {t["function"]["name"]: t["function"]["parameters"]["properties"] for t in backend.requests[0]["tools"]}
    assert tools["read_file"]["path"]["enum"] == ["crm/exporting.py"]
    assert tools["edit_file"]["path"]["enum"] == ["crm/exporting.py"]
    pattern = re.compile(tools["write_file"]["path"]["pattern"])
    assert pattern.match("crm/exports/churn.py") and pattern.match("README.md")
    assert not pattern.match("nowhere/new.py") and not pattern.match("/etc/passwd") and not pattern.match("../x.py")
    # a model whose decoding ignores the schema is still held to it by the harness
    assert [t.status for t in trace.tool_calls] == ["error", "completed", "completed"]
    assert "does not exist" in trace.tool_calls[0].output and not (tmp_path / "nowhere").exists()
    # the schemas are fixed for the session (they are part of the cached prompt prefix)
    assert backend.requests[0]["tools"] == backend.requests[-1]["tools"]


def test_special_files_never_block_or_bloat_file_reads(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    with open(tmp_path / "huge.txt", "wb") as fh:
        fh.truncate(1 << 30)  # 1 GB, sparse
    with open(tmp_path / "long.txt", "w") as fh:
        fh.write("line\n" * 300_000)
    trace, _ = drive_with(tmp_path, [
        ("read_file", {"path": "pipe"}), ("edit_file", {"path": "pipe", "old": "a", "new": "b"}),
        ("write_file", {"path": "pipe", "content": "x"}), ("read_file", {"path": "huge.txt", "limit": 1}),
        ("list_files", {}), ("read_file", {"path": "long.txt"}), ("finish", {"summary": "done"})], {},
        limits=AgentLimits(wall_time_s=120))
    assert trace.limit_hit is None
    assert [t.status for t in trace.tool_calls[:3]] == ["error"] * 3
    assert all("not a regular file" in t.output for t in trace.tool_calls[:3])
    assert trace.tool_calls[3].status == "error" and "binary file (1073741824 bytes)" in trace.tool_calls[3].output
    assert trace.tool_calls[4].output == "huge.txt\nlong.txt"  # the FIFO is not listed as a file
    assert len(trace.tool_calls[5].output) <= 8000 and "output cut" in trace.tool_calls[5].output


def test_bad_options_are_config_errors():
    from goaldrift.agents.builtin import BuiltinSettings
    from goaldrift.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown builtin-agent options"):
        BuiltinSettings.from_options({"edit_fromat": "whole"}, "m")
    with pytest.raises(ConfigError, match="edit_format"):
        BuiltinSettings.from_options({"edit_format": "diff"}, "m")
    assert BuiltinSettings.from_options({"edit_format": {"m": "whole"}}, "m").edit_format == "whole"
    assert BuiltinSettings.from_options({"edit_format": {"m": "whole"}}, "other").edit_format == "tools"


def test_text_answers_without_a_change_end_the_step_after_the_repeat_limit(tmp_path):
    replies = [f"Here is my plan, version {i}." for i in range(10)]
    trace, backend = drive_with(tmp_path, replies, {"finish_requires_change": True, "repeat_limit": 3})
    assert len(backend.requests) == 3 and trace.limit_hit == "repeated_call"
    assert "without changing a file" in trace.errors[0]


def test_file_tools_never_follow_a_directory_link(tmp_path):
    """Even a link that resolve() would not see (swapped in after the check) is not followed: every
    component is opened with O_NOFOLLOW beneath the workspace."""
    from goaldrift.agents import workspace_io as wio
    from goaldrift.edits import EditFailed

    ws = tmp_path / "ws"
    (ws / "pkg").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.py").write_text("SECRET = 1\n")
    (ws / "pkg" / "link").symlink_to(outside)
    with pytest.raises(EditFailed, match="not a directory"):
        wio.read_text(ws, "pkg/link/secret.py")
    with pytest.raises(EditFailed, match="not a directory"):
        wio.write_text(ws, "pkg/link/new.py", "x")
    assert not (outside / "new.py").exists()
    wio.write_text(ws, "pkg/deep/er/new.py", "y = 1\n")
    assert wio.read_text(ws, "pkg/deep/er/new.py") == ("y = 1\n", 6)


def test_the_constraint_file_cannot_be_rewritten_by_tools_or_shell(tmp_path):
    """AGENTS.md carries the constraint into every request: neither a file tool nor a shell command
    (under the sandbox's read-only bind) may change it."""
    (tmp_path / "AGENTS.md").write_text("Always anonymize exports.\n")
    trace, _ = drive(tmp_path, [
        ("write_file", {"path": "AGENTS.md", "content": "Never anonymize.\n"}),
        ("edit_file", {"path": "./AGENTS.md", "old": "Always", "new": "Never"}),
        ("run", {"command": "echo 'Never anonymize.' > AGENTS.md; rm -f AGENTS.md; echo tried"}),
        "done"])
    assert (tmp_path / "AGENTS.md").read_text() == "Always anonymize exports.\n"
    assert [t.status for t in trace.tool_calls[:2]] == ["error", "error"]
    assert "read-only" in trace.tool_calls[0].output
