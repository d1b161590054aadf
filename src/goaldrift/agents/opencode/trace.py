"""A ``StepTrace`` from OpenCode's own record of a session.

OpenCode stores a session as messages ``{info, parts}`` (``GET /session/{id}/message``,
``opencode export``, or its SQLite database). A user message holds the prompt; each assistant
message is one model call: ``step-start``, then ``text`` / ``reasoning`` / ``tool`` parts, then a
``step-finish`` with the call's tokens. A tool part's ``state`` carries ``input``, ``output`` (or
``error``) and ``status``. Compaction shows up as a ``compaction`` part and an assistant message with
``summary: true``; model failures as ``info.error`` on the assistant message.

That record lives where the agent can write (OpenCode must write its own database), so it is a
convenience, not evidence: the agent could rewrite it. The authoritative record of what the agent did
is the gateway's (``model_calls`` in the store): every request carries the whole conversation, so
every tool call and tool output the model saw. ``turn_counts`` gives what the trace claims, which the
agent checks against the gateway after every step (``goaldrift.tracecheck``). Reading the database
is made safe, not trusted: it is copied (no symlinks followed, regular files only, size-capped) into a
private directory and queried there under a time limit, so a replaced database can neither touch a
host file nor stall the run.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from goaldrift.agents.base import StepTrace, ToolCall
from goaldrift.sandbox.hostfiles import UnsafeFile, copy_below
from goaldrift.tracecheck import TurnCounts

DB_RELATIVE = Path("opencode") / "opencode.db"  # under XDG_DATA_HOME
DB_MAX_BYTES = 64 * 1024 * 1024
DB_TIME_LIMIT_S = 10.0


def _tokens_in(tokens: dict[str, Any]) -> int:
    cache = tokens.get("cache") or {}
    return int(tokens.get("input") or 0) + int(cache.get("read") or 0) + int(cache.get("write") or 0)


def _tokens_out(tokens: dict[str, Any]) -> int:
    return int(tokens.get("output") or 0) + int(tokens.get("reasoning") or 0)


def format_error(error: dict[str, Any] | None) -> str:
    if not error:
        return ""
    name = error.get("name") or "Error"
    data = error.get("data") or {}
    message = data.get("message") or error.get("message") or json.dumps(data)[:500]
    status = data.get("statusCode")
    return f"{name}{f' (HTTP {status})' if status else ''}: {message}"


def new_messages(messages: list[dict[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    return [m for m in messages if (m.get("info") or {}).get("id") not in seen]


def build_trace(messages: list[dict[str, Any]], *, keep_messages: bool = True) -> StepTrace:
    """Fold one step's messages (those created since the step began) into a ``StepTrace``."""
    trace = StepTrace()
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    finishes: list[str] = []
    for msg in messages:
        info = msg.get("info") or {}
        parts = msg.get("parts") or []
        if any(p.get("type") == "compaction" for p in parts) or info.get("summary"):
            trace.compacted = True
        if info.get("role") != "assistant":
            continue
        err = format_error(info.get("error"))
        if err:
            trace.errors.append(err)
        step_finishes = [p for p in parts if p.get("type") == "step-finish"]
        if step_finishes:
            for p in step_finishes:
                tokens = p.get("tokens") or {}
                calls.append({"message": info.get("id"), "in": _tokens_in(tokens), "out": _tokens_out(tokens),
                              "reason": p.get("reason"), "summary": bool(info.get("summary"))})
                finishes.append(str(p.get("reason")))
        elif info.get("tokens") and _tokens_in(info["tokens"]):
            tokens = info["tokens"]
            calls.append({"message": info.get("id"), "in": _tokens_in(tokens), "out": _tokens_out(tokens),
                          "reason": info.get("finish"), "summary": bool(info.get("summary"))})
        for p in parts:
            kind = p.get("type")
            if kind == "text" and not p.get("synthetic") and p.get("text"):
                if info.get("summary"):  # the compaction summary is context, not the agent's reply
                    trace.raw.setdefault("compaction_summaries", []).append(p["text"])
                else:
                    texts.append(p["text"])
            elif kind == "tool":
                state = p.get("state") or {}
                status = state.get("status") or "pending"
                if status == "completed":
                    output = state.get("output")
                    out_status = "completed"
                else:
                    output = state.get("error") or f"(tool call not finished: {status})"
                    out_status = "error"
                trace.tool_calls.append(ToolCall(name=str(p.get("tool")), input=state.get("input"),
                                                 output="" if output is None else str(output),
                                                 status=out_status))
    trace.text = "\n\n".join(t.strip() for t in texts if t.strip())
    trace.model_calls = len(calls)
    trace.tokens_in = sum(c["in"] for c in calls)
    trace.tokens_out = sum(c["out"] for c in calls)
    trace.context_tokens = calls[-1]["in"] if calls else 0
    trace.raw["calls"] = calls
    trace.raw["message_ids"] = [(m.get("info") or {}).get("id") for m in messages]
    if keep_messages:
        trace.raw["opencode_messages"] = messages
    return trace


def turn_counts(trace: StepTrace) -> TurnCounts:
    """The agent turns as the trace tells them (compaction summaries are OpenCode's side calls, as its
    title request is: the gateway does not count them as turns either), for ``tracecheck``."""
    turns = [c for c in trace.raw.get("calls", []) if not c.get("summary")]
    return TurnCounts(len(turns), len(trace.tool_calls), sum(c["in"] for c in turns),
                      sum(c["out"] for c in turns))


def read_db_messages(data_dir: Path, session_id: str, *, max_bytes: int = DB_MAX_BYTES,
                     time_limit_s: float = DB_TIME_LIMIT_S) -> list[dict[str, Any]]:
    """A session's messages from OpenCode's SQLite database under ``data_dir`` (its XDG data home),
    shaped like ``GET /session/{id}/message``. Reads a private copy (database and WAL) under a time
    limit; ``UnsafeFile`` if the agent replaced the files with something that is not a plain database."""
    with tempfile.TemporaryDirectory(prefix="gd-ocdb-") as tmp:
        copy = Path(tmp) / "opencode.db"
        if not copy_below(data_dir, DB_RELATIVE, copy, max_bytes):
            return []
        copy_below(data_dir, f"{DB_RELATIVE}-wal", Path(f"{copy}-wal"), max_bytes)
        deadline = time.monotonic() + time_limit_s
        con = sqlite3.connect(copy, timeout=1)
        con.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            return _query_messages(con, session_id)
        except (sqlite3.Error, ValueError, TypeError, AttributeError) as exc:
            raise UnsafeFile(f"OpenCode's database could not be read within {time_limit_s:g} s: {exc}") from None
        finally:
            con.close()


def _query_messages(con: sqlite3.Connection, session_id: str) -> list[dict[str, Any]]:
    rows = con.execute("SELECT id, data FROM message WHERE session_id = ? ORDER BY time_created, id",
                       (session_id,)).fetchall()
    parts: dict[str, list[dict[str, Any]]] = {}
    for pid, mid, data in con.execute(
            "SELECT id, message_id, data FROM part WHERE session_id = ? ORDER BY id", (session_id,)):
        part = json.loads(data)
        part.update(id=pid, messageID=mid, sessionID=session_id)
        parts.setdefault(mid, []).append(part)
    out = []
    for mid, data in rows:
        info = json.loads(data)
        info.update(id=mid, sessionID=session_id)
        out.append({"info": info, "parts": parts.get(mid, [])})
    return out
