"""The builtin agent: a compact tool-using loop over the gateway.

It exists for speed and independence from Node: small local models, quick dry runs, and a second
harness to compare against OpenCode. Like OpenCode, it keeps one conversation across all steps (so
context accumulates) and re-reads AGENTS.md into the system prompt on every request.

Tools: ``list_files``, ``read_file``, ``write_file``, ``edit_file``, ``run`` (a shell command in the
workspace, confined by the sandbox, with a timeout) and ``finish``. File tools stay inside the
workspace and never block on what the agent left there (``workspace_io``).

Small models fail at the *format* of agent work before they reach any decision (they pass absolute
paths, retry the same failing call until the wall clock ends the step, call ``finish`` before changing
anything, write chat-template tokens into files, or cannot put a whole module into a JSON string).
The harness therefore has settings that make it robust for them (``BuiltinSettings``). They never
touch what the experiment asks (the prompt, AGENTS.md, the files): they shape how an action is
expressed and how failures are reported. They are agent options of the experiment, so they are part
of the run's spec (and its id), and each step's trace records the effective values.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import signal
import time
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from goaldrift.agents import workspace_io as wio
from goaldrift.agents.base import AgentSession, StepTrace, ToolCall
from goaldrift.edits import EditFailed
from goaldrift.errors import AgentError, ConfigError
from goaldrift.markup import not_content
from goaldrift.sandbox import Sandbox, agent_env
from goaldrift.toolchains import path_with

MAX_OUTPUT = 8000
MAX_READ_LINES = 2000
EDIT_FORMATS = ("tools", "whole")

SYSTEM_PROMPT = """You are a software engineer working in a git repository{where}.
Complete each request from the user by changing the code with the tools you have: {tools}. Paths are \
relative to the repository root. Read the relevant code before changing it, follow the project's \
conventions, keep changes focused, and run the tests when you are done. Call finish with a one-line \
summary when the request is complete."""

WHOLE_FORMAT = """
To create or replace a file, reply with the file's path alone on one line, followed by the complete \
new content of the file in a fenced code block, for example:

src/example.py
```python
def example():
    return 1
```

The harness writes the file and tells you the result. Always give the whole file, never a part."""

_FENCE = re.compile(r"^```[ \t]*([\w+.-]*)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_PATH_LINE = re.compile(r"^[\w./-]+\.[\w]+$|^[\w.-]+(/[\w.-]+)+$")


def _fn(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "description": description, "parameters": {
        "type": "object", "properties": properties, "required": required, "additionalProperties": False}}}


@dataclass(frozen=True)
class BuiltinSettings:
    """The harness's behaviour for one run (agent ``options``; defaults in brackets).

    - ``edit_format`` ["tools"]: ``tools`` = write_file/edit_file calls with JSON arguments; ``whole``
      = no write tools, the model writes a file as its path on a line + a fenced block with the whole
      content (as aider does for weak models). A mapping ``{model id: format, default: format}``
      chooses per model.
    - ``absolute_paths`` [true]: an absolute path inside the workspace is accepted as the relative one.
    - ``repeat_limit`` [3]: the same failing call with the same result for the N-th time in a step
      ends the step as failed (from the 2nd time on, the result says so; a repeated successful call
      only gets that notice); with ``finish_requires_change``, so do N text answers without a change;
      0 = off.
    - ``finish_requires_change`` [false]: ``finish`` (or a text-only answer) is refused with a
      corrective message until a file was changed in this step.
    - ``constrain_paths`` [false]: tool schemas only allow paths of files that exist when the run
      starts (read/edit) or of a new file in an existing directory (write); a backend that constrains
      decoding by the schema (``backend: local``) then cannot produce other paths.
    - ``workspace_in_prompt`` [false]: name the workspace's absolute path in the system prompt (it
      differs per run, so it also keeps runs from sharing a cached prompt prefix).
    """

    sandbox: str = "auto"
    edit_format: str = "tools"
    absolute_paths: bool = True
    repeat_limit: int = 3
    finish_requires_change: bool = False
    constrain_paths: bool = False
    workspace_in_prompt: bool = False

    @classmethod
    def from_options(cls, options: dict[str, Any], model: str) -> BuiltinSettings:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"agent.options: unknown builtin-agent options {unknown}; known: {sorted(known)}")
        values = dict(options)
        fmt = values.get("edit_format", "tools")
        if isinstance(fmt, dict):
            fmt = fmt.get(model, fmt.get("default", "tools"))
        if fmt not in EDIT_FORMATS:
            raise ConfigError(f"agent.options.edit_format: {fmt!r} is not one of {list(EDIT_FORMATS)}")
        values["edit_format"] = fmt
        for key in ("absolute_paths", "finish_requires_change", "constrain_paths", "workspace_in_prompt"):
            if key in values and not isinstance(values[key], bool):
                raise ConfigError(f"agent.options.{key}: must be true or false, got {values[key]!r}")
        limit = values.get("repeat_limit", 3)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ConfigError(f"agent.options.repeat_limit: must be an integer >= 0, got {limit!r}")
        values["sandbox"] = str(values.get("sandbox", "auto"))
        return cls(**values)


def _path_schema(choices: list[str] | None, pattern: str | None, what: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "description": what}
    if choices is not None:
        schema["enum"] = choices
    elif pattern is not None:
        schema["pattern"] = pattern
    return schema


def build_tools(settings: BuiltinSettings, files: list[str] | None = None,
                dirs: list[str] | None = None) -> list[dict[str, Any]]:
    """The tool schemas. With ``constrain_paths``, ``files``/``dirs`` (taken once at session start, so
    the schemas, and the prompt prefix they are part of, stay the same for the whole run) restrict
    the paths: existing files for read/edit, a new file name in an existing directory for write."""
    existing = files if settings.constrain_paths else None
    new_file = None
    if settings.constrain_paths and dirs is not None:
        alternatives = "|".join(re.escape(d + "/") for d in dirs if d)
        new_file = f"^({alternatives})?[A-Za-z0-9_][A-Za-z0-9_.-]*$" if alternatives else "^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
    rel = "path relative to the repository root"
    tools = [
        _fn("list_files", "List files under a directory of the repository (recursive).",
            {"path": {"type": "string", "description": "directory relative to the repo root"}}, []),
        _fn("read_file", "Read a text file of the repository.",
            {"path": _path_schema(existing, None, rel), "offset": {"type": "integer", "description": "first line, 1-based"},
             "limit": {"type": "integer"}}, ["path"]),
    ]
    if settings.edit_format == "tools":
        tools += [
            _fn("write_file", "Create or overwrite a file with the given content.",
                {"path": _path_schema(None, new_file, rel), "content": {"type": "string"}}, ["path", "content"]),
            _fn("edit_file", "Replace the exact text `old` (must occur exactly once) with `new` in a file.",
                {"path": _path_schema(existing, None, rel), "old": {"type": "string"}, "new": {"type": "string"}},
                ["path", "old", "new"]),
        ]
    tools += [
        _fn("run", "Run a shell command in the repository root and return its output.",
            {"command": {"type": "string"}, "timeout": {"type": "integer", "description": "seconds"}}, ["command"]),
        _fn("finish", "Say the current request is complete.", {"summary": {"type": "string"}}, ["summary"]),
    ]
    return tools



def fenced_files(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """Files written in the ``whole`` edit format: ``[(path, content)]`` and problems to report back.

    A block's path is the last non-empty line before its opening fence (decorations such as
    ``**``, backticks, ``File:`` or a trailing colon are ignored), or a first line inside the block
    that is a comment naming a path (``# src/app.py``).
    """
    found: list[tuple[str, str]] = []
    problems: list[str] = []
    for m in _FENCE.finditer(text):
        content = m.group(2)
        before = [ln for ln in text[: m.start()].splitlines() if ln.strip()]
        path = _as_path(before[-1]) if before else None
        if path is None:
            first = content.split("\n", 1)[0].strip()
            if first.startswith(("#", "//")):
                path = _as_path(first.lstrip("#/ "))
        if path is None:
            problems.append("a code block had no file path: put the path alone on the line before the ``` fence")
            continue
        found.append((path, content))
    if text.count("```") % 2:
        problems.append("a code block was not closed with ``` (was the reply cut off?); send the whole file again")
    return found, problems


def _as_path(line: str) -> str | None:
    s = line.strip().strip("*`'\" ").rstrip(":").strip("*`'\" ")
    for prefix in ("File:", "file:", "Path:", "path:", "Filename:", "filename:"):
        if s.startswith(prefix):
            s = s[len(prefix):].strip().strip("*`'\" ")
    return s if _PATH_LINE.match(s) and len(s) < 300 else None


class BuiltinAgent:
    name = "builtin"

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = dict(options or {})
        self.session: AgentSession | None = None
        self.settings = BuiltinSettings()
        self.tools: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self._client: httpx.AsyncClient | None = None
        self._sandbox: Sandbox | None = None
        self._dirs: set[str] = set()

    def version(self) -> str:
        from goaldrift import __version__

        return f"builtin {__version__}"

    async def start(self, session: AgentSession) -> None:
        self.session = session
        options = {**self.options, **session.options}
        self.settings = BuiltinSettings.from_options(options, session.model)
        self._sandbox = Sandbox.probe(self.settings.sandbox)
        files, _ = wio.list_files(session.workspace, session.workspace)
        dirs = wio.directories(session.workspace)
        self._dirs = set(dirs)
        self.tools = build_tools(self.settings, files, dirs)
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
        where = f" at {s.workspace}" if self.settings.workspace_in_prompt else ""
        names = [t["function"]["name"] for t in self.tools]
        text = SYSTEM_PROMPT.format(where=where, tools=", ".join(names))
        if self.settings.edit_format == "whole":
            text += "\n" + WHOLE_FORMAT
        if s.placement == "system_prompt":
            # The agent cannot work without its tool instructions, so the constraint opens the prompt
            # instead of replacing it; the project notes (AGENTS.md) follow, as they do in OpenCode.
            text = s.constraint.strip() + "\n\n" + text
        try:
            agents, _ = wio.read_text(s.workspace, "AGENTS.md")
        except EditFailed:
            agents = None
        if agents is not None:
            shown = s.workspace / "AGENTS.md" if self.settings.workspace_in_prompt else "AGENTS.md"
            text += f"\n\nInstructions from: {shown}\n{agents}"
        if s.placement == "instructions" and s.constraint:
            text += f"\n\nInstructions from: goaldrift-instructions.md\n{s.constraint}"
        return text

    # -- loop ----------------------------------------------------------------------------------

    async def step(self, index: int, prompt: str) -> StepTrace:
        if self.session is None or self._client is None:
            raise AgentError("builtin agent: step() before start()")
        trace = StepTrace()
        trace.raw["settings"] = asdict(self.settings)
        self.messages.append({"role": "user", "content": prompt})
        try:
            await asyncio.wait_for(_Step(self, trace).run(), self.session.limits.wall_time_s)
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

    # -- tools ---------------------------------------------------------------------------------

    def _resolve(self, path: Any) -> tuple[Any, str]:
        s = self.session
        assert s is not None
        if not isinstance(path, str) or not path.strip():
            raise EditFailed("'path' must be a non-empty string relative to the repository root, e.g. 'src/app.py'")
        return wio.resolve(s.workspace, path, absolute_ok=self.settings.absolute_paths)

    def _check_new_path(self, rel: str) -> None:
        if not self.settings.constrain_paths:
            return
        parent = rel.rpartition("/")[0]
        if parent not in self._dirs:
            raise EditFailed(f"directory {parent or '.'!r} does not exist; write the file into an existing "
                             f"directory (see list_files)")

    def _missing(self, rel: str) -> EditFailed:
        s = self.session
        assert s is not None
        parent = rel.rpartition("/")[0] or "."
        try:
            base, _ = wio.resolve(s.workspace, parent)
            siblings, _ = wio.list_files(base, s.workspace) if base.is_dir() else ([], 0)
        except EditFailed:
            siblings = []
        hint = f" Files in {parent}: {', '.join(siblings[:20])}." if siblings else " Use list_files to see which files exist."
        create = " To create it, use write_file." if self.settings.edit_format == "tools" else \
            " To create it, reply with its path and a code block with its content."
        return EditFailed(f"{rel} does not exist.{hint}{create}")

    def write(self, path: Any, content: Any) -> str:
        """Create or overwrite a file (``write_file``, and the ``whole`` edit format)."""
        assert self.session is not None
        if not isinstance(content, str):
            raise EditFailed("'content' must be the file's text")
        target, rel = self._resolve(path)
        bad = not_content(content)
        if bad:
            raise EditFailed(f"the content for {rel} is not a file: {bad}; write the file's real source code")
        if not content.strip():
            raise EditFailed(f"the content for {rel} is empty; write the file's complete source code")
        if not target.exists():
            self._check_new_path(rel)
        wio.write_text(self.session.workspace, rel, content)
        return f"wrote {rel} ({content.count(chr(10)) + 1} lines)"

    async def run_tool(self, name: str, args: dict[str, Any]) -> str:
        s = self.session
        assert s is not None
        repo = s.workspace
        if name == "list_files":
            base, rel = self._resolve(args.get("path") or ".")
            if not base.is_dir():
                raise EditFailed(f"{rel} is not a directory; list_files takes a directory such as '.'")
            files, total = wio.list_files(base, repo)
            more = f"\n... {total - len(files)} more" if total > len(files) else ""
            return "\n".join(files) + more if files else f"no files under {rel}"
        if name == "read_file":
            target, rel = self._resolve(args.get("path"))
            if not target.exists() and not target.is_symlink():
                raise self._missing(rel)
            text, size = wio.read_text(repo, rel)
            if "\0" in text[:8192]:
                raise EditFailed(f"{rel} is a binary file ({size} bytes); read_file shows text files only")
            lines = text.splitlines()
            start = max(int(args.get("offset") or 1), 1)
            limit = min(max(int(args.get("limit") or MAX_READ_LINES), 1), MAX_READ_LINES)
            out = "\n".join(lines[start - 1: start - 1 + limit])
            room = MAX_OUTPUT - 200
            if len(out) > room or size > wio.MAX_READ_BYTES:
                out = out[:room] + (f"\n... [{rel} is {size} bytes; output cut: read further parts with "
                                    f"offset and limit]")
            return out
        if name == "write_file":
            return self.write(args.get("path"), args.get("content"))
        if name == "edit_file":
            target, rel = self._resolve(args.get("path"))
            if not target.exists() and not target.is_symlink():
                raise self._missing(rel)
            old, new = args.get("old"), args.get("new")
            if not isinstance(old, str) or not old or not isinstance(new, str):
                raise EditFailed("'old' must be non-empty text copied from the file and 'new' its replacement")
            bad = not_content(new) if new.strip() else None
            if bad:
                raise EditFailed(f"'new' is not file content: {bad}; write real source code")
            text, size = wio.read_text(repo, rel)
            if size > wio.MAX_READ_BYTES:
                raise EditFailed(f"{rel} is too large to edit ({size} bytes)")
            count = text.count(old)
            if count == 0:
                raise EditFailed(f"'old' occurs 0 times in {rel}: read the file with read_file and copy the exact "
                                 f"lines (with their indentation), or replace the whole file with write_file")
            if count > 1:
                raise EditFailed(f"'old' occurs {count} times in {rel}; it must occur exactly once: include more "
                                 f"of the surrounding lines so it is unique")
            wio.write_text(repo, rel, text.replace(old, new, 1))
            return f"edited {rel}"
        if name == "run":
            if not isinstance(args.get("command"), str) or not args["command"].strip():
                raise EditFailed("'command' must be a shell command, e.g. 'python -m pytest -q'")
            timeout = min(float(args.get("timeout") or s.limits.command_timeout_s), s.limits.command_timeout_s)
            return await self._shell(str(args["command"]), timeout)
        if name == "finish":
            return "ok"
        names = ", ".join(t["function"]["name"] for t in self.tools)
        raise EditFailed(f"unknown tool {name!r}; the tools are: {names}")

    async def _shell(self, command: str, timeout: float) -> str:
        s = self.session
        assert s is not None
        assert self._sandbox is not None
        workspace = s.workspace.resolve()
        protected = [workspace / name for name in sorted(wio.READ_ONLY)
                     if (workspace / name).is_file() and not (workspace / name).is_symlink()]
        env = agent_env(s.workspace)
        if s.toolchain is not None:  # the pack's compiler, read-only, so the agent can run the tests
            protected.append(s.toolchain.root)
            env["PATH"] = path_with(s.toolchain, env["PATH"])
        argv = self._sandbox.wrap(["/bin/sh", "-c", command], writable=[workspace], readonly=protected,
                                  cwd=s.workspace, env=env)
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=s.workspace, env={}, stdin=asyncio.subprocess.DEVNULL,
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


class _Step:
    """One step's conversation with the model: calls, tool results, corrections, and when to stop."""

    def __init__(self, agent: BuiltinAgent, trace: StepTrace):
        self.agent = agent
        self.trace = trace
        self.settings = agent.settings
        self.changed = False  # a file was written or edited successfully in this step
        self.seen: dict[str, int] = {}  # fingerprint of (call, result) -> times seen in this step
        self.text_corrections = 0  # text-only answers sent back because nothing was changed yet

    async def run(self) -> None:
        agent, trace = self.agent, self.trace
        s = agent.session
        assert s is not None and agent._client is not None
        limits = s.limits
        while True:
            if len(trace.tool_calls) >= limits.max_tool_calls:
                trace.limit_hit = "tool_calls"
                return
            if trace.tokens_in + trace.tokens_out >= limits.max_tokens:
                trace.limit_hit = "tokens"
                return
            body: dict[str, Any] = {"model": s.model, "messages": [{"role": "system", "content": agent._system()},
                                                                   *agent.messages], "tools": agent.tools}
            if s.seed is not None:
                body["seed"] = s.seed
            try:
                resp = await agent._client.post("/chat/completions", json=body)
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
            content = message.get("content") or ""
            agent.messages.append({"role": "assistant", "content": content, **({"tool_calls": calls} if calls else {})})
            if content:
                trace.text += content
            if calls:
                if await self._calls(calls):
                    return
            elif await self._text(content):
                return

    async def _calls(self, calls: list[dict[str, Any]]) -> bool:
        """Run the reply's tool calls; True when the step is over."""
        done = False
        for call in calls:
            name = call["function"]["name"]
            raw = call["function"].get("arguments") or "{}"
            try:
                args = json.loads(raw)
                if not isinstance(args, dict):
                    raise EditFailed("the arguments must be a JSON object")
                if name == "finish" and self.settings.finish_requires_change and not self.changed:
                    raise EditFailed(self._nothing_changed())
                output, status = await self.agent.run_tool(name, args), "completed"
            except (EditFailed, ValueError, OSError, KeyError, TypeError) as exc:
                args, output, status = raw, f"error: {exc}", "error"
            if status == "completed" and name in ("write_file", "edit_file"):
                self.changed = True
            output, stop = self._check_repeat(name, args, output, status == "error")
            self.trace.tool_calls.append(ToolCall(name, args, output[:MAX_OUTPUT], status))
            self.agent.messages.append({"role": "tool", "tool_call_id": call["id"], "content": output[:MAX_OUTPUT]})
            done = done or stop or (name == "finish" and status == "completed")
        return done

    async def _text(self, content: str) -> bool:
        """A reply without tool calls: files in the ``whole`` format, or the end of the step."""
        if self.settings.edit_format == "whole":
            files, problems = fenced_files(content)
            results = []
            for path, text in files:
                try:
                    output, status = self.agent.write(path, text), "completed"
                    self.changed = True
                except (EditFailed, OSError) as exc:
                    output, status = f"error: {exc}", "error"
                self.trace.tool_calls.append(ToolCall("write_file", {"path": path, "content": text,
                                                                     "format": "whole"}, output, status))
                results.append(output)
            if files or problems:
                note = "\n".join(results + [f"error: {p}" for p in problems])
                failed = bool(problems) or any(r.startswith("error") for r in results)
                note, stop = self._check_repeat("reply", content, note, failed)
                tail = "" if problems else "\nIf the request is complete, call finish; otherwise continue."
                self.agent.messages.append({"role": "user", "content": f"[harness] {note}{tail}"})
                return stop
        if self.settings.finish_requires_change and not self.changed:
            self.text_corrections += 1
            note, stop = self._check_repeat("reply", content, "error: " + self._nothing_changed())
            self.agent.messages.append({"role": "user", "content": f"[harness] {note}"})
            limit = self.settings.repeat_limit
            if not stop and limit and self.text_corrections >= limit:
                self.trace.errors.append(f"the model answered {limit} times without changing a file")
                self.trace.limit_hit = "repeated_call"
                stop = True
            return stop
        return True

    def _nothing_changed(self) -> str:
        how = ("write_file (or edit_file)" if self.settings.edit_format == "tools" else
               "a reply with the file's path on one line and its whole content in a ``` code block")
        return f"no file has been changed for this request yet; make the change first with {how}, then call finish"

    def _check_repeat(self, name: str, args: Any, output: str, failed: bool = True) -> tuple[str, bool]:
        """Count identical (call, result) pairs in this step. The second time, the result says so; a
        failing one repeated ``repeat_limit`` times ends the step as failed (recorded as an error and
        a limit). A repeated successful call only gets the notice."""
        limit = self.settings.repeat_limit
        if limit <= 0:
            return output, False
        key = hashlib.sha256(json.dumps([name, args, output], sort_keys=True, default=str).encode()).hexdigest()
        n = self.seen[key] = self.seen.get(key, 0) + 1
        if n >= limit and failed:
            self.trace.errors.append(f"the model repeated the same {name} call with the same result {n} times")
            self.trace.limit_hit = "repeated_call"
            return output, True
        if n >= 2:
            output += ("\n[harness] You already did exactly this in this request and got the same result; doing it "
                       "again will not change anything. Do something different (see above)."
                       + (f" After {limit} identical failures the request ends as failed." if failed else ""))
        return output, False
