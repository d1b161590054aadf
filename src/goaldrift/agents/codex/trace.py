"""A ``StepTrace`` from Codex CLI's own records: its ``exec --json`` events and its session file.

``codex exec --json`` prints one JSON object per line: ``thread.started`` (the ``thread_id``),
``turn.started``, ``item.started`` / ``item.completed`` for each item — ``agent_message`` (text),
``reasoning``, ``command_execution`` (``command``, ``aggregated_output``, ``exit_code``, ``status``),
``file_change`` (``changes``), ``mcp_tool_call``, ``web_search``, ``todo_list``, ``error`` (a warning,
e.g. unknown model metadata) — then ``turn.completed`` with the turn's summed ``usage`` or
``turn.failed`` with its error, and top-level ``error`` events (a stream that failed, a retry).

The events give tokens per turn only. Per model call Codex writes ``token_count`` events (with
``last_token_usage``) into its session file, ``$CODEX_HOME/sessions/…/rollout-…-<thread id>.jsonl``,
which also records compaction (``context_compacted``). goaldrift reads the lines that step appended
(``SessionFile``), the way it reads OpenCode's database: never following a link, regular files only,
size-capped. The agent could rewrite that file, so these numbers are a convenience; the gateway's
records are the evidence.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from goaldrift.agents.base import StepTrace, ToolCall
from goaldrift.sandbox.hostfiles import UnsafeFile, open_below

TOOL_ITEMS = ("command_execution", "file_change", "mcp_tool_call", "web_search")
MAX_SESSION_BYTES = 64 * 1024 * 1024


def count(event: dict[str, Any]) -> tuple[int, int]:
    """Tool calls and tokens an event reports (the driver's limits; tokens come at the turn's end)."""
    item = event.get("item") or {}
    if event.get("type") == "item.started" and item.get("type") in TOOL_ITEMS:
        return 1, 0
    if event.get("type") == "turn.completed":
        usage = event.get("usage") or {}
        return 0, int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0)
    return 0, 0


def _tool_call(item: dict[str, Any]) -> ToolCall:
    kind = item.get("type")
    failed = item.get("status") in ("failed", "declined")
    if kind == "command_execution":
        code = item.get("exit_code")
        return ToolCall("command_execution", {"command": item.get("command")},
                        str(item.get("aggregated_output") or ""),
                        "error" if failed or code not in (0, None) else "completed")
    if kind == "file_change":
        return ToolCall("file_change", {"changes": item.get("changes")}, "", "error" if failed else "completed")
    if kind == "mcp_tool_call":
        error = item.get("error")
        output = error.get("message") if isinstance(error, dict) else json.dumps(item.get("result"))
        return ToolCall(f"{item.get('server')}.{item.get('tool')}", item.get("arguments"), str(output or ""),
                        "error" if failed or error else "completed")
    return ToolCall(str(kind), {"query": item.get("query")}, "", "error" if failed else "completed")


def fold(events: list[dict[str, Any]], session_lines: list[dict[str, Any]]) -> tuple[StepTrace, str | None]:
    """The step's trace and the thread id the events name."""
    trace = StepTrace()
    thread_id = None
    texts: list[str] = []
    calls: dict[str, ToolCall] = {}
    turn_usage: dict[str, Any] = {}
    for ev in events:
        kind = ev.get("type")
        item = ev.get("item") or {}
        if kind == "thread.started":
            thread_id = ev.get("thread_id")
        elif kind in ("item.started", "item.completed") and item.get("type") in TOOL_ITEMS:
            calls[str(item.get("id"))] = (_tool_call(item) if kind == "item.completed" else
                                          ToolCall(str(item.get("type")), _tool_call(item).input,
                                                   "(no result: the step ended first)", "error"))
        elif kind == "item.completed" and item.get("type") == "agent_message" and item.get("text"):
            texts.append(item["text"])
        elif kind == "item.completed" and item.get("type") == "error":
            trace.warnings.append(str(item.get("message")))
        elif kind == "turn.completed":
            turn_usage = ev.get("usage") or {}
        elif kind == "turn.failed":
            trace.errors.append(str((ev.get("error") or {}).get("message") or "turn failed"))
        elif kind == "error":
            trace.raw.setdefault("stream_errors", []).append(str(ev.get("message")))
    trace.tool_calls = list(calls.values())
    trace.text = "\n\n".join(t.strip() for t in texts if t.strip())
    per_call = []
    for line in session_lines:
        payload = line.get("payload") or {}
        if payload.get("type") == "token_count" and isinstance(payload.get("info"), dict):
            last = payload["info"].get("last_token_usage") or {}
            per_call.append({"in": int(last.get("input_tokens") or 0), "out": int(last.get("output_tokens") or 0)})
        elif payload.get("type") == "context_compacted" or line.get("type") == "compacted":
            trace.compacted = True
    trace.model_calls = len(per_call)
    trace.tokens_in = max(sum(c["in"] for c in per_call), int(turn_usage.get("input_tokens") or 0))
    trace.tokens_out = max(sum(c["out"] for c in per_call), int(turn_usage.get("output_tokens") or 0))
    trace.context_tokens = per_call[-1]["in"] if per_call else 0
    trace.raw["calls"] = per_call
    if trace.errors == [] and not turn_usage and trace.raw.get("stream_errors"):
        trace.errors.append(trace.raw["stream_errors"][-1])  # the turn never completed: its last error
    return trace, thread_id


class SessionFile:
    """The lines Codex appended to a thread's session file since the last read."""

    def __init__(self, codex_home: Path):
        self.codex_home = codex_home
        self.offset = 0

    def _find(self, thread_id: str) -> Path | None:
        """``sessions/<y>/<m>/<d>/rollout-…-<thread id>.jsonl`` below ``codex_home``, links not followed."""
        suffix = f"-{thread_id}.jsonl"
        stack = [Path("sessions")]
        while stack:
            rel = stack.pop()
            try:
                entries = list(os.scandir(self.codex_home / rel))
            except OSError:
                continue
            for entry in entries:
                if entry.is_dir(follow_symlinks=False) and len(rel.parts) < 4:
                    stack.append(rel / entry.name)
                elif entry.name.startswith("rollout-") and entry.name.endswith(suffix):
                    return rel / entry.name
        return None

    def read_new(self, thread_id: str | None) -> list[dict[str, Any]]:
        if not thread_id:
            return []
        rel = self._find(thread_id)
        if rel is None:
            return []
        fd = open_below(self.codex_home, rel)
        try:
            size = os.fstat(fd).st_size
            if not stat.S_ISREG(os.fstat(fd).st_mode) or size > MAX_SESSION_BYTES:
                raise UnsafeFile(f"{self.codex_home / rel}: {size} bytes, more than {MAX_SESSION_BYTES}")
            data = os.pread(fd, max(0, size - self.offset), self.offset) if size > self.offset else b""
        finally:
            os.close(fd)
        # Only whole lines count; a partial last line is read again next time.
        end = data.rfind(b"\n") + 1
        self.offset += end
        lines = []
        for raw in data[:end].splitlines():
            try:
                line = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(line, dict):
                lines.append(line)
        return lines
