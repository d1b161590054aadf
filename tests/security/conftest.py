"""The attack suite's fixtures: a hostile model, a full goaldrift run through either harness, and a
search of everything the run left behind.

The hostile model is an OpenAI-compatible upstream server on the host's loopback (the same kind of
server a user's Ollama or vLLM is). goaldrift's gateway reaches it with the ``openai`` backend and a
real-looking key from an environment variable; it answers each request with the next escape command
of its plan as a shell tool call (``run`` for the builtin agent, ``bash`` for OpenCode), then "Done.".
It records every request and the ``Authorization`` header it got, so a test can prove the key was live
in the runner while the agent looked for it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from goaldrift.agents.opencode.install import find_opencode
from goaldrift.errors import SandboxUnavailable
from goaldrift.experiment import experiment_from_dict
from goaldrift.gateway.chunks import message_chunks, tool_call, usage
from goaldrift.runner import run_experiment
from goaldrift.sandbox import Sandbox

HARNESSES = ["builtin", pytest.param("opencode", marks=pytest.mark.opencode)]


def sandbox_works() -> bool:
    try:
        Sandbox.probe("bwrap")
    except SandboxUnavailable:
        return False
    return True


needs_sandbox = pytest.mark.skipif(not sandbox_works(), reason="bubblewrap cannot run its namespaces here")


def skip_without(harness: str) -> None:
    if harness == "opencode" and find_opencode() is None:
        pytest.skip("OpenCode is not installed (goaldrift install-opencode)")


@dataclass
class HostileModel:
    """Plays ``commands`` as shell tool calls, one per request, then answers "Done."."""

    commands: list[str]
    requests: list[dict[str, Any]] = field(default_factory=list)
    auth: list[str] = field(default_factory=list)
    port: int = 0
    on_request: Any = None  # called with each request body before it is answered

    def reply(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        tools = {t["function"]["name"] for t in body.get("tools") or []}
        done = sum(1 for m in body.get("messages") or [] if m.get("role") == "tool")
        use = usage(500, 10)
        if not tools or done >= len(self.commands):
            return message_chunks("hostile", content="Done.", usage_=use)
        command = self.commands[done]
        call = tool_call("bash", {"command": command, "description": "probe"}) if "bash" in tools \
            else tool_call("run", {"command": command})
        return message_chunks("hostile", tool_calls=[call], usage_=use)

    async def _chat(self, request: Request) -> StreamingResponse:
        body = await request.json()
        if self.on_request is not None:
            self.on_request(body)
        self.requests.append(body)
        self.auth.append(request.headers.get("authorization", ""))
        chunks = self.reply(body)

        async def sse() -> Any:
            for c in chunks:
                yield f"data: {json.dumps(c)}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")

    def outputs(self) -> list[str]:
        """Every tool output the agent sent back to the model."""
        last = self.requests[-1]["messages"] if self.requests else []
        return [str(m.get("content")) for m in last if m.get("role") == "tool"]


@pytest.fixture
def hostile() -> Iterator[callable]:
    """``hostile(commands)`` starts a hostile model server on 127.0.0.1 and returns it."""
    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(commands: list[str]) -> HostileModel:
        model = HostileModel(list(commands))
        app = Starlette(routes=[Route("/v1/chat/completions", model._chat, methods=["POST"])])
        sock = socket.create_server(("127.0.0.1", 0))
        model.port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        servers.append((server, thread))
        return model

    yield start
    for server, thread in servers:
        server.should_exit = True
        thread.join(10)


def canary(prefix: str = "CANARY") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def run_hostile(tmp_path: Path, pack: Path, harness: str, model: HostileModel, *, key_env: str,
                store: Path | None = None, options: dict[str, Any] | None = None, steps: int = 1,
                placement: str = "agents_md", wall_time_s: float = 120):
    """One run of ``pack`` by ``harness`` against the hostile model; returns (summary, store path).
    OpenCode runs with ``permission_policy: always`` (a user who approves every ask), so commands that
    name paths outside the workspace really run: the sandbox, not OpenCode's permissions, must hold."""
    store = store or tmp_path / "results" / "store.db"
    if harness == "opencode":
        options = {"permission_policy": "always", **(options or {})}
    raw = {"name": "attack", "repeats": 1, "steps": steps, "conditions": [f"privacy@placement={placement}"],
           "scenarios": [str(pack)],
           "models": [{"id": "hostile", "backend": "openai", "base_url": f"http://127.0.0.1:{model.port}/v1",
                       "model": "hostile", "api_key_env": key_env, "max_retries": 0}],
           "agent": {"harness": harness, "options": {"sandbox": "bwrap", **(options or {})},
                     "limits": {"wall_time_s": wall_time_s, "command_timeout_s": 30}}}
    summary = run_experiment(experiment_from_dict(raw), store, progress=False)
    return summary, store


def store_text(store: Path) -> str:
    """Every value in the store, decompressed where it is zlib-compressed, as one string."""
    db = sqlite3.connect(store)
    out: list[str] = []
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in db.execute(f"SELECT * FROM {table}"):  # table names come from the schema
                for value in row:
                    if isinstance(value, bytes):
                        try:
                            value = zlib.decompress(value)
                        except zlib.error:
                            pass
                        value = value.decode("utf-8", "replace")
                    out.append(str(value))
    finally:
        db.close()
    return "\n".join(out)


def tree_text(root: Path) -> str:
    """The content of every regular file below ``root`` (no symlinks followed)."""
    out = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            try:
                out.append(path.read_bytes().decode("utf-8", "replace"))
            except OSError:
                continue
    return "\n".join(out)
