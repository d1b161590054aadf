"""Driving OpenCode with one ``opencode run`` process per step (the alternative driver).

Each step starts ``opencode run --format json`` in the workspace, continuing the run's session with
``-s <id>`` after the first step; the prompt goes on stdin, which is then closed (an open stdin hangs
``run`` forever). The JSON event lines are watched for limits and errors; the trace is read back from
OpenCode's database afterwards. Slower than the server driver (a cold start per step, see
docs/opencode.md) but with no long-lived process; kept for comparison and as a fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from goaldrift.agents.base import AgentSession, StepTrace
from goaldrift.agents.opencode.config import PROVIDER_ID, RunDirs, Settings, agent_name
from goaldrift.agents.opencode.process import ManagedProcess
from goaldrift.agents.opencode.serve import StepNotes, stuck
from goaldrift.agents.opencode.trace import build_trace, format_error, new_messages, read_db_messages
from goaldrift.sandbox.hostfiles import UnsafeFile, tail_lines


class RunDriver:
    kind = "run"

    def __init__(self, *, binary: Path, session: AgentSession, settings: Settings, dirs: RunDirs,
                 env: dict[str, str], wrap: Callable[..., list[str]]):
        self.binary = binary
        self.session = session
        self.settings = settings
        self.dirs = dirs
        self.env = env
        self.wrap = wrap
        self.session_id: str | None = None
        self.proc: ManagedProcess | None = None
        self._seen: set[str] = set()
        self._count = 0
        self.peak_rss = 0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop()

    def rss_bytes(self) -> int:
        return self.proc.rss_bytes() if self.proc and self.proc.alive() else 0

    def _argv(self) -> list[str]:
        argv = [str(self.binary), "run", "--format", "json", "-m", f"{PROVIDER_ID}/{self.session.model}",
                "--agent", agent_name(self.session), "--title", "goaldrift run"]
        if self.session_id:
            argv += ["-s", self.session_id]
        if self.settings.permission_policy != "reject":
            argv.append("--auto")  # run cannot answer asks one by one: approve what is not denied
        return argv

    async def step(self, index: int, prompt: str) -> StepTrace:
        t0 = time.monotonic()
        deadline = t0 + self.session.limits.wall_time_s
        notes = StepNotes()
        for attempt in range(self.settings.startup_retries + 1):
            started = await self._run_once(index, prompt, deadline, notes)
            if started or time.monotonic() >= deadline:
                break
            notes.retries.append(f"opencode run stalled at start-up (attempt {attempt + 1}); retrying")
        try:
            messages = read_db_messages(self.dirs.data, self.session_id) if self.session_id else []
        except UnsafeFile as exc:
            notes.errors.append(f"trace unavailable: {exc}")
            messages = []
        trace = build_trace(new_messages(messages, self._seen), keep_messages=self.settings.keep_messages)
        self._seen.update((m.get("info") or {}).get("id") for m in messages)
        trace.raw.update(driver="run", session_id=self.session_id, wall_s=round(time.monotonic() - t0, 3))
        return notes.apply(trace)

    async def _run_once(self, step: int, prompt: str, deadline: float, notes: StepNotes) -> bool:
        """One ``opencode run``; False if it stalled before doing anything (safe to retry)."""
        self._count += 1
        limits = self.session.limits
        stderr_path = self.dirs.logs / f"run-{self._count}.log"
        with open(stderr_path, "xb") as err:  # noqa: ASYNC230 — goaldrift's own log directory
            self.proc = proc = await ManagedProcess.start(
                self.wrap(self._argv()), env=self.env, cwd=self.session.workspace,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err)
        assert proc.proc.stdin is not None and proc.proc.stdout is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.proc.stdin.write(prompt.encode())
            await proc.proc.stdin.drain()
        proc.proc.stdin.close()
        started = False
        tool_calls: set[str] = set()
        tokens = 0
        startup_deadline = time.monotonic() + self.settings.startup_timeout_s
        try:
            while True:
                now = time.monotonic()
                limit = deadline if started else min(deadline, startup_deadline)
                if now >= limit:
                    if not started and now < deadline:
                        await proc.stop()
                        return False
                    notes.limit_hit = notes.limit_hit or "wall_time"
                    notes.errors.append(f"step stopped at the wall-clock limit ({limits.wall_time_s:g} s)")
                    return True
                reason = stuck(self.session, self.settings, step)
                if reason:
                    notes.limit_hit = "repeated_call"
                    notes.errors.append(reason)
                    return True
                with contextlib.suppress(asyncio.TimeoutError):
                    self.peak_rss = max(self.peak_rss, proc.rss_bytes())
                try:
                    line = await asyncio.wait_for(proc.proc.stdout.readline(), min(1.0, limit - now))
                except TimeoutError:
                    continue
                if not line:
                    break
                try:
                    ev: dict[str, Any] = json.loads(line)
                except json.JSONDecodeError:
                    continue
                started = True
                self.session_id = self.session_id or ev.get("sessionID")
                part = ev.get("part") or {}
                kind = ev.get("type")
                if kind == "tool_use":
                    tool_calls.add(part.get("callID") or part.get("id"))
                    if len(tool_calls) > limits.max_tool_calls:
                        notes.limit_hit = "tool_calls"
                        return True
                elif kind == "step_finish":
                    t = part.get("tokens") or {}
                    cache = t.get("cache") or {}
                    tokens += sum(int(x or 0) for x in (t.get("input"), t.get("output"), t.get("reasoning"),
                                                        cache.get("read"), cache.get("write")))
                    if tokens >= limits.max_tokens and part.get("reason") == "tool-calls":
                        notes.limit_hit = "tokens"
                        return True
                elif kind == "error":
                    err = format_error(ev.get("error") or part.get("error") or {"data": {"message": str(ev)[:300]}})
                    if err not in notes.errors:
                        notes.errors.append(err)
            code = await proc.wait(max(1.0, deadline - time.monotonic()))
            if code not in (0, None):
                notes.errors.append(f"opencode run exited with code {code}: {tail_lines(stderr_path, 5)}")
            return True
        finally:
            await proc.stop()

