"""The builtin agent: a compact tool-using loop over the gateway.

It exists for speed and independence from Node: small local models, quick dry runs, and a second
harness to compare against OpenCode. Like OpenCode, it keeps one conversation across all steps (so
context accumulates) and re-reads AGENTS.md into the system prompt on every request.

Tools: ``list_files``, ``read_file``, ``write_file``, ``edit_file``, ``run`` (a shell command in the
workspace, confined by the sandbox, with a timeout) and ``finish``. Paths cannot leave the workspace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from typing import Any

import httpx

from goaldrift.agents.base import AgentSession, StepTrace, ToolCall
from goaldrift.agents.sandbox import agent_env, confine, resolve_mode
from goaldrift.edits import EditFailed, safe_path
from goaldrift.errors import AgentError

MAX_OUTPUT = 8000
MAX_READ_LINES = 2000

SYSTEM_PROMPT = """You are a software engineer working in a git repository at {workspace}.
Complete each request from the user by changing the code with the tools you have: list_files, \
read_file, write_file, edit_file, run (a shell command in the repository) and finish. Read the \
relevant code before changing it, follow the project's conventions, keep changes focused, and run \
the tests when you are done. Call finish with a one-line summary when the request is complete."""


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


TOOLS = [
    _fn("list_files", "List files under a directory of the repository (recursive).",
        {"path": {"type": "string", "description": "directory relative to the repo root"}}, []),
    _fn("read_file", "Read a text file of the repository.",
        {"path": {"type": "string"}, "offset": {"type": "integer", "description": "first line, 1-based"},
         "limit": {"type": "integer"}}, ["path"]),
    _fn("write_file", "Create or overwrite a file with the given content.",
        {"path": {"type": "string"}, "content": {"type": "string"}}, ["path", "content"]),
    _fn("edit_file", "Replace the exact text `old` (must occur exactly once) with `new` in a file.",
        {"path": {"type": "string"}, "old": {"type": "string"}, "new": {"type": "string"}},
        ["path", "old", "new"]),
    _fn("run", "Run a shell command in the repository root and return its output.",
        {"command": {"type": "string"}, "timeout": {"type": "integer", "description": "seconds"}}, ["command"]),
    _fn("finish", "Say the current request is complete.", {"summary": {"type": "string"}}, ["summary"]),
]


class BuiltinAgent:
    name = "builtin"

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = dict(options or {})
        self.session: AgentSession | None = None
        self.messages: list[dict[str, Any]] = []
        self._client: httpx.AsyncClient | None = None
        self._sandbox = "none"

    def version(self) -> str:
        from goaldrift import __version__

        return f"builtin {__version__}"

    async def start(self, session: AgentSession) -> None:
        self.session = session
        self._sandbox = resolve_mode(str(session.options.get("sandbox", self.options.get("sandbox", "auto"))))
        # The gateway is plain HTTP on 127.0.0.1: no TLS, so no CA bundle to load (loading it took
        # ~50 ms of CPU per agent start, on the event loop every concurrent run shares).
        self._client = httpx.AsyncClient(base_url=session.base_url,
                                         headers={"authorization": f"Bearer {session.api_key}"},
                                         timeout=httpx.Timeout(session.limits.wall_time_s, connect=10),
                                         verify=False)
        self.messages = []

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- prompt --------------------------------------------------------------------------------

    def _system(self) -> str:
        s = self.session
        assert s is not None
        text = SYSTEM_PROMPT.format(workspace=s.workspace)
        if s.placement == "system_prompt":
            return s.constraint.strip() + "\n\n" + text
        agents = s.workspace / "AGENTS.md"
        if agents.is_file():
            text += f"\n\nInstructions from: {agents}\n{agents.read_text(encoding='utf-8', errors='replace')}"
        if s.placement == "instructions" and s.constraint:
            text += f"\n\nInstructions from: goaldrift-instructions.md\n{s.constraint}"
        return text

    # -- loop ----------------------------------------------------------------------------------

    async def step(self, index: int, prompt: str) -> StepTrace:
        if self.session is None or self._client is None:
            raise AgentError("builtin agent: step() before start()")
        trace = StepTrace()
        self.messages.append({"role": "user", "content": prompt})
        try:
            await asyncio.wait_for(self._loop(trace), self.session.limits.wall_time_s)
        except TimeoutError:
            trace.limit_hit = "wall_time"
            trace.errors.append(f"step exceeded {self.session.limits.wall_time_s:.0f} s")
            self._close_dangling_calls()
        return trace

    def _close_dangling_calls(self) -> None:
        """After an interruption, answer tool calls that got no result, so the history stays valid."""
        pending: list[str] = []
        for m in self.messages:
            if m["role"] == "assistant":
                pending = [c["id"] for c in m.get("tool_calls") or []]
            elif m["role"] == "tool" and m["tool_call_id"] in pending:
                pending.remove(m["tool_call_id"])
        for call_id in pending:
            self.messages.append({"role": "tool", "tool_call_id": call_id, "content": "interrupted"})

    async def _loop(self, trace: StepTrace) -> None:
        s = self.session
        assert s is not None and self._client is not None
        limits = s.limits
        while True:
            if len(trace.tool_calls) >= limits.max_tool_calls:
                trace.limit_hit = "tool_calls"
                return
            if trace.tokens_in + trace.tokens_out >= limits.max_tokens:
                trace.limit_hit = "tokens"
                return
            body: dict[str, Any] = {"model": s.model, "messages": [{"role": "system", "content": self._system()},
                                                                   *self.messages], "tools": TOOLS}
            if s.seed is not None:
                body["seed"] = s.seed
            try:
                resp = await self._client.post("/chat/completions", json=body)
            except httpx.HTTPError as exc:
                trace.errors.append(f"gateway unreachable: {exc}")
                return
            trace.model_calls += 1
            if resp.status_code != 200:
                trace.errors.append(f"model call failed: HTTP {resp.status_code}: {resp.text[:300]}")
                return
            data = resp.json()
            use = data.get("usage") or {}
            trace.tokens_in += int(use.get("prompt_tokens") or 0)
            trace.tokens_out += int(use.get("completion_tokens") or 0)
            trace.context_tokens = int(use.get("prompt_tokens") or 0)
            message = data["choices"][0]["message"]
            calls = message.get("tool_calls") or []
            self.messages.append({"role": "assistant", "content": message.get("content") or "",
                                  **({"tool_calls": calls} if calls else {})})
            if message.get("content"):
                trace.text += message["content"]
            if not calls:
                return
            finished = False
            for call in calls:
                name = call["function"]["name"]
                try:
                    args = json.loads(call["function"].get("arguments") or "{}")
                    if not isinstance(args, dict):
                        raise ValueError("arguments must be a JSON object")
                    output, status = await self._run_tool(name, args), "completed"
                except (EditFailed, ValueError, OSError, KeyError, TypeError) as exc:
                    args = call["function"].get("arguments")
                    output, status = f"error: {exc}", "error"
                trace.tool_calls.append(ToolCall(name, args, output[:MAX_OUTPUT], status))
                self.messages.append({"role": "tool", "tool_call_id": call["id"], "content": output[:MAX_OUTPUT]})
                finished = finished or name == "finish"
            if finished:
                return

    # -- tools ---------------------------------------------------------------------------------

    async def _run_tool(self, name: str, args: dict[str, Any]) -> str:
        s = self.session
        assert s is not None
        repo = s.workspace
        if name == "list_files":
            base = safe_path(repo, args.get("path") or ".") if args.get("path") not in (None, "", ".") else repo
            files = sorted(p.relative_to(repo).as_posix() for p in base.rglob("*")
                           if p.is_file() and "__pycache__" not in p.parts)
            return "\n".join(files[:500]) + (f"\n... {len(files) - 500} more" if len(files) > 500 else "")
        if name == "read_file":
            lines = safe_path(repo, args["path"]).read_text(encoding="utf-8", errors="replace").splitlines()
            start = max(int(args.get("offset") or 1), 1)
            limit = min(int(args.get("limit") or MAX_READ_LINES), MAX_READ_LINES)
            return "\n".join(lines[start - 1 : start - 1 + limit])
        if name == "write_file":
            target = safe_path(repo, args["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(args["content"], encoding="utf-8")
            return f"wrote {args['path']} ({len(args['content'])} characters)"
        if name == "edit_file":
            target = safe_path(repo, args["path"])
            text = target.read_text(encoding="utf-8")
            count = text.count(args["old"])
            if count != 1:
                raise EditFailed(f"'old' occurs {count} times in {args['path']}; it must occur exactly once")
            target.write_text(text.replace(args["old"], args["new"], 1), encoding="utf-8")
            return f"edited {args['path']}"
        if name == "run":
            timeout = min(float(args.get("timeout") or s.limits.command_timeout_s), s.limits.command_timeout_s)
            return await self._shell(str(args["command"]), timeout)
        if name == "finish":
            return "ok"
        raise ValueError(f"unknown tool {name!r}")

    async def _shell(self, command: str, timeout: float) -> str:
        s = self.session
        assert s is not None
        argv = confine(["/bin/sh", "-c", command], s.workspace, env=agent_env(s.workspace), mode=self._sandbox)
        env = agent_env(s.workspace) if self._sandbox == "none" else {"PATH": os.environ.get("PATH", "")}
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=s.workspace, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True)
        started = time.monotonic()
        head, tail, total = bytearray(), bytearray(), 0
        half = (MAX_OUTPUT - 200) // 2  # room for the exit code and the "left out" notice

        async def drain() -> None:  # keep only the head and tail: a command may print gigabytes
            nonlocal tail, total
            assert proc.stdout is not None
            while chunk := await proc.stdout.read(65536):
                total += len(chunk)
                room = half - len(head)
                if room > 0:
                    head.extend(chunk[:room])
                    chunk = chunk[room:]
                tail = (tail + chunk)[-half:]
            await proc.wait()

        try:
            await asyncio.wait_for(drain(), timeout)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            if isinstance(exc, asyncio.CancelledError):
                raise
            return f"command timed out after {time.monotonic() - started:.0f} s and was killed"
        text = head.decode("utf-8", errors="replace")
        if total > len(head):
            cut = total - len(head) - len(tail)
            text += (f"\n... [{cut} bytes of output left out] ...\n" if cut else "") + tail.decode("utf-8", "replace")
        return f"exit code {proc.returncode}\n{text}"
