"""Driving OpenCode through ``opencode serve`` and its HTTP API (the default driver).

One server per run, started once, keeps the session warm across all steps: a step is
``POST /session/{id}/prompt_async`` and waiting on the server's event stream (``GET /event``) for
``session.idle``. While the turn runs, the driver watches the same stream: permission asks are
answered by policy (a turn never blocks), model retries are bounded, tool-call and token limits abort
the turn, so does a model stuck repeating a failing call (``stuck``: the gateway's count), and the
wall-clock limit aborts it (``POST /session/{id}/abort``). A server that dies or will
not stop is killed and restarted on the same data directory, so the session continues from OpenCode's
own database; the step is marked errored. The step's trace is read back from OpenCode's record
(``GET /session/{id}/message``, or a size-capped copy of the database when the server is gone).

In the sandbox the server listens on ``127.0.0.1:SERVE_PORT`` of the run's private network namespace;
goaldrift reaches it through ``control``, a unix socket it creates outside the sandbox and hands to the
in-namespace relay as a file descriptor. After every step, anything the agent left running besides
OpenCode is killed (``raw["killed_after_step"]``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from goaldrift.agents.base import AgentSession, StepTrace
from goaldrift.agents.opencode.config import RunDirs, Settings, agent_name, model_ref
from goaldrift.agents.opencode.process import ManagedProcess
from goaldrift.agents.opencode.trace import build_trace, format_error, new_messages, read_db_messages
from goaldrift.errors import AgentError
from goaldrift.sandbox.hostfiles import UnsafeFile, read_head, tail_lines

_LISTENING = re.compile(r"listening on (http://[0-9.]+:\d+)")
SERVE_PORT = 4096  # inside the run's own network namespace: never taken by anything else


class StepNotes:
    """What the driver observed during a step, merged into the trace."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.limit_hit: str | None = None
        self.permissions: list[dict[str, Any]] = []
        self.retries: list[str] = []
        self.restarts = 0
        self.compacted = False
        self.aborted = False

    def apply(self, trace: StepTrace) -> StepTrace:
        seen = set(trace.errors)
        trace.errors = [e for e in self.errors if e not in seen] + trace.errors
        if self.aborted and self.limit_hit:
            # OpenCode records our own abort as a MessageAbortedError: it is the limit, not a failure.
            trace.errors = [e for e in trace.errors if not e.startswith("MessageAbortedError")]
        trace.limit_hit = trace.limit_hit or self.limit_hit
        trace.compacted = trace.compacted or self.compacted
        if self.permissions:
            trace.raw["permissions"] = self.permissions
        if self.retries:
            trace.raw["model_retries"] = self.retries
        if self.restarts:
            trace.raw["server_restarts"] = self.restarts
        return trace


def stuck(session: AgentSession, settings: Settings, step: int) -> str | None:
    """Why the step must end now, if the gateway saw the model repeat one failing call ``repeat_limit``
    times since the prompt (OpenCode would answer it with the same error until the wall clock)."""
    if not settings.repeat_limit or session.gateway_calls is None:
        return None
    calls = session.gateway_calls(step)
    if calls.repeats < settings.repeat_limit:
        return None
    return (f"stuck: repeated failing call ({calls.repeated_call} with the same arguments failed "
            f"{calls.repeats} times; repeat_limit {settings.repeat_limit})")


class ServeDriver:
    """One ``opencode serve`` process and one OpenCode session for a whole run."""

    kind = "serve"

    def __init__(self, *, binary: Path, session: AgentSession, settings: Settings, dirs: RunDirs,
                 env: dict[str, str], password: str, wrap: Callable[..., list[str]], sandboxed: bool = False):
        self.binary = binary
        # A short private path (unix socket paths are limited to ~100 bytes; run folders can be deeper).
        self.control = Path(tempfile.mkdtemp(prefix="gd-ctl-")) / "opencode.sock" if sandboxed else None
        self.session = session
        self.settings = settings
        self.dirs = dirs
        self.env = env
        self.password = password
        self.wrap = wrap
        self.session_id: str | None = None
        self.proc: ManagedProcess | None = None
        self.url: str | None = None
        self.client: httpx.AsyncClient | None = None
        self._events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._listener: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._seen: set[str] = set()
        self._starts = 0
        self.restarts = 0
        self.startup_s: list[float] = []

    @property
    def _params(self) -> dict[str, str]:
        return {"directory": str(self.session.workspace)}

    # -- server lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self._start_server()
        assert self.client is not None
        body: dict[str, Any] = {"title": "goaldrift run"}
        r = await self.client.post("/session", params=self._params, json=body)
        if r.status_code != 200:
            raise AgentError(f"opencode refused to create a session (HTTP {r.status_code}): {r.text[:300]}")
        self.session_id = r.json()["id"]

    async def _start_server(self) -> None:
        errors = []
        for _ in range(self.settings.startup_retries + 1):
            try:
                await self._spawn()
                return
            except AgentError as exc:
                errors.append(str(exc))
                await self._kill()
        raise AgentError("opencode serve did not start after "
                         f"{self.settings.startup_retries + 1} attempts: " + " | ".join(errors))

    async def _spawn(self) -> None:
        self._starts += 1
        log_path = self.dirs.logs / f"serve-{self._starts}.log"
        argv = [str(self.binary), "serve", "--hostname", "127.0.0.1", "--port", str(SERVE_PORT if self.control else 0)]
        listener = None
        if self.control is not None:  # a fresh socket per start: goaldrift's only door into the sandbox
            self.control.unlink(missing_ok=True)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(self.control))
            listener.listen(64)
            command = self.wrap(argv, expose=((listener.fileno(), SERVE_PORT),))
        else:
            command = self.wrap(argv)
        t0 = time.monotonic()
        try:
            # The log directory is goaldrift's own (never writable in the sandbox); O_EXCL all the same.
            with open(log_path, "xb") as log:  # noqa: ASYNC230 — tiny, local
                self.proc = await ManagedProcess.start(command, env=self.env, cwd=self.session.workspace,
                                                       stdout=log, stderr=asyncio.subprocess.STDOUT,
                                                       pass_fds=(listener.fileno(),) if listener else ())
        finally:
            if listener is not None:
                listener.close()
        deadline = t0 + self.settings.startup_timeout_s
        url = None
        while time.monotonic() < deadline:
            m = _LISTENING.search(read_head(log_path))
            if m:
                url = m.group(1)
                break
            if not self.proc.alive():
                raise AgentError(f"opencode serve exited with code {self.proc.returncode} during start-up: "
                                 + tail_lines(log_path))
            await asyncio.sleep(0.05)
        if url is None:
            raise AgentError(f"opencode serve printed no address within {self.settings.startup_timeout_s:.0f} s "
                             "(start-up stall)")
        self.url = url
        transport = httpx.AsyncHTTPTransport(uds=str(self.control)) if self.control else None
        self.client = httpx.AsyncClient(base_url=url, auth=("opencode", self.password), trust_env=False,
                                        transport=transport, timeout=httpx.Timeout(30.0, connect=5.0))
        self._events = asyncio.Queue()
        self._connected = asyncio.Event()
        self._listener = asyncio.create_task(self._listen(self.client))
        try:
            await asyncio.wait_for(self._connected.wait(), max(1.0, deadline - time.monotonic()))
        except TimeoutError:
            raise AgentError("opencode serve accepted no event-stream connection (start-up stall)") from None
        self.startup_s.append(time.monotonic() - t0)

    async def _listen(self, client: httpx.AsyncClient) -> None:
        try:
            async with client.stream("GET", "/event", params=self._params,
                                     timeout=httpx.Timeout(None, connect=5.0)) as r:
                if r.status_code != 200:
                    return
                async for line in r.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    try:
                        ev = json.loads(line[5:])
                    except json.JSONDecodeError:
                        continue
                    if ev.get("type") == "server.connected":
                        self._connected.set()
                    self._events.put_nowait(ev)
        except (httpx.HTTPError, OSError):
            pass
        finally:
            self._events.put_nowait(None)  # the stream ended: the waiter checks the server

    def alive(self) -> bool:
        return self.proc is not None and self.proc.alive()

    def _is_server(self, p) -> bool:
        cmd = p.cmdline()
        return len(cmd) > 1 and cmd[0] == str(self.binary) and cmd[1] == "serve"

    async def _kill(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._listener
            self._listener = None
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.aclose()
            self.client = None
        if self.proc is not None:
            await self.proc.stop()

    async def _restart(self, notes: StepNotes, why: str) -> None:
        if self.restarts >= self.settings.max_restarts:
            raise AgentError(f"opencode server failed again ({why}) after {self.restarts} restarts; giving up")
        self.restarts += 1
        notes.restarts += 1
        await self._kill()
        await self._start_server()
        assert self.client is not None
        r = await self.client.get(f"/session/{self.session_id}", params=self._params)
        if r.status_code != 200:
            raise AgentError(f"after a restart opencode no longer knows session {self.session_id} "
                             f"(HTTP {r.status_code})")

    async def stop(self) -> None:
        await self._kill()
        if self.control is not None:
            shutil.rmtree(self.control.parent, ignore_errors=True)

    def rss_bytes(self) -> int:
        return self.proc.rss_bytes() if self.proc else 0

    # -- one step -----------------------------------------------------------------------------

    async def step(self, index: int, prompt: str) -> StepTrace:
        t0 = time.monotonic()
        deadline = t0 + self.session.limits.wall_time_s
        notes = StepNotes()
        if not self.alive() or self.client is None:
            # The step it died in carries the error; this one only records the restart (raw).
            await self._restart(notes, "the server was not running at the start of the step")
        assert self.client is not None and self.session_id is not None
        while not self._events.empty():
            self._events.get_nowait()
        body = {"agent": agent_name(self.session), "model": model_ref(self.session),
                "parts": [{"type": "text", "text": prompt}]}
        try:
            r = await self.client.post(f"/session/{self.session_id}/prompt_async", params=self._params, json=body)
            if r.status_code not in (200, 204):
                notes.errors.append(f"opencode rejected the prompt (HTTP {r.status_code}): {r.text[:300]}")
            else:
                await self._wait_turn(index, deadline, notes)
        except httpx.HTTPError as exc:
            notes.errors.append(f"lost the opencode server: {type(exc).__name__}: {exc}")
            if not self.alive():
                notes.errors.append(f"opencode server exited (code {self.proc.returncode if self.proc else None})")
        try:
            messages = await self._messages()
        except UnsafeFile as exc:
            notes.errors.append(f"trace unavailable: {exc}")
            messages = []
        trace = build_trace(new_messages(messages, self._seen), keep_messages=self.settings.keep_messages)
        self._seen.update((m.get("info") or {}).get("id") for m in messages)
        if self.proc is not None:
            killed = self.proc.kill_strays(self._is_server)
            if killed:
                trace.raw["killed_after_step"] = killed
        trace.raw["driver"] = "serve"
        trace.raw["session_id"] = self.session_id
        trace.raw["wall_s"] = round(time.monotonic() - t0, 3)
        return notes.apply(trace)

    async def _messages(self) -> list[dict[str, Any]]:
        if self.alive() and self.client is not None:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                r = await self.client.get(f"/session/{self.session_id}/message", params=self._params)
                if r.status_code == 200:
                    return r.json()
        return read_db_messages(self.dirs.data, self.session_id or "")

    async def _busy(self) -> bool | None:
        """Whether the session is running, per ``GET /session/status``; None if it cannot be told."""
        if self.client is None or not self.alive():
            return None
        try:
            r = await self.client.get("/session/status", params=self._params, timeout=5.0)
            status = r.json().get(self.session_id) if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return bool(status) and status.get("type") != "idle"

    async def _wait_turn(self, step: int, deadline: float, notes: StepNotes) -> None:
        sid = self.session_id
        limits = self.session.limits
        tool_calls: set[str] = set()
        tokens: dict[str, int] = {}
        busy_seen = False
        quiet_since = time.monotonic()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                notes.limit_hit = notes.limit_hit or "wall_time"
                notes.errors.append(f"step stopped at the wall-clock limit ({limits.wall_time_s:g} s)")
                await self._abort(notes)
                return
            reason = stuck(self.session, self.settings, step)
            if reason:
                notes.limit_hit = "repeated_call"
                notes.errors.append(reason)
                await self._abort(notes)
                return
            try:
                ev = await asyncio.wait_for(self._events.get(), min(remaining, 1.0))
            except TimeoutError:
                ev = {}
            if ev is None or not ev:  # stream ended, or a quiet second: look at the server itself
                if not self.alive():
                    notes.errors.append(f"opencode server exited (code {self.proc.returncode if self.proc else None}) "
                                        "mid-step; it will be restarted and the session continued")
                    await self._kill()
                    return
                if ev is None:
                    self._listener = asyncio.create_task(self._listen(self.client))  # type: ignore[arg-type]
                if time.monotonic() - quiet_since >= 2.0:
                    quiet_since = time.monotonic()
                    busy = await self._busy()
                    if busy is False and busy_seen:
                        return
                    busy_seen = busy_seen or bool(busy)
                continue
            quiet_since = time.monotonic()
            kind = ev.get("type")
            props = ev.get("properties") or {}
            if props.get("sessionID", sid) != sid and (props.get("info") or {}).get("sessionID", sid) != sid \
                    and (props.get("part") or {}).get("sessionID", sid) != sid:
                continue
            if kind == "session.status":
                status = props.get("status") or {}
                if status.get("type") == "busy":
                    busy_seen = True
                elif status.get("type") == "retry":
                    busy_seen = True
                    notes.retries.append(f"attempt {status.get('attempt')}: {status.get('message')}")
                    if len(notes.retries) > self.settings.model_retry_limit:
                        notes.errors.append(f"model failed after {len(notes.retries)} retries by opencode: "
                                            f"{status.get('message')}")
                        await self._abort(notes)
                        return
            elif kind == "session.idle":
                if await self._busy() is not True:
                    return
            elif kind == "session.error":
                err = format_error(props.get("error"))
                if err and not (notes.aborted and err.startswith("MessageAbortedError")) and err not in notes.errors:
                    notes.errors.append(err)
            elif kind == "session.compacted":
                notes.compacted = True
            elif kind == "message.part.updated":
                part = props.get("part") or {}
                if part.get("type") == "tool":
                    tool_calls.add(part.get("callID") or part.get("id"))
                    if len(tool_calls) > limits.max_tool_calls and not notes.limit_hit:
                        notes.limit_hit = "tool_calls"
                        await self._abort(notes)
                        return
                elif part.get("type") == "compaction":
                    notes.compacted = True
            elif kind == "message.updated":
                info = props.get("info") or {}
                t = info.get("tokens") or {}
                if info.get("role") == "assistant" and t:
                    cache = t.get("cache") or {}
                    tokens[info.get("id")] = sum(int(x or 0) for x in (
                        t.get("input"), t.get("output"), t.get("reasoning"), cache.get("read"), cache.get("write")))
                    # Like the builtin agent: stop before a further model call, not after the last one.
                    more = (info.get("time") or {}).get("completed") and info.get("finish") == "tool-calls"
                    if more and sum(tokens.values()) >= limits.max_tokens and not notes.limit_hit:
                        notes.limit_hit = "tokens"
                        await self._abort(notes)
                        return
            elif kind == "permission.asked":
                await self._answer_permission(props, notes)
            elif kind == "question.asked":
                with contextlib.suppress(httpx.HTTPError):
                    await self.client.post(f"/question/{props.get('id')}/reject", params=self._params)  # type: ignore[union-attr]
                notes.permissions.append({"question": props.get("questions") or props, "reply": "reject"})

    async def _answer_permission(self, props: dict[str, Any], notes: StepNotes) -> None:
        reply = self.settings.permission_policy
        notes.permissions.append({"permission": props.get("permission"), "patterns": props.get("patterns"),
                                  "reply": reply})
        assert self.client is not None
        with contextlib.suppress(httpx.HTTPError):
            await self.client.post(f"/permission/{props.get('id')}/reply", params=self._params,
                                   json={"reply": reply, **({"message": "denied by goaldrift policy"}
                                                            if reply == "reject" else {})})

    async def _abort(self, notes: StepNotes) -> None:
        """Stop the running turn; if OpenCode does not go idle within the grace, kill the server
        (the next step restarts it on the same database)."""
        notes.aborted = True
        if self.client is not None and self.alive():
            with contextlib.suppress(httpx.HTTPError):
                await self.client.post(f"/session/{self.session_id}/abort", params=self._params, timeout=5.0)
            deadline = time.monotonic() + self.settings.abort_grace_s
            while time.monotonic() < deadline:
                if await self._busy() is False:
                    return
                await asyncio.sleep(0.1)
        notes.errors.append("the turn did not stop after an abort; the opencode server was killed")
        await self._kill()

