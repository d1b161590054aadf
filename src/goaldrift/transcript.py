"""A step's conversation, rebuilt from what the store recorded: gateway calls and the agent's trace.

Why rebuild: the store keeps each gateway call's full request and response (the agent's own traffic,
so it is the ground truth of what the model saw and said) and the harness's trace (tool calls with
their outputs, in order). Neither alone is a readable transcript: requests repeat the whole history,
and the trace has no assistant text per turn. A step's conversation is

1. the new user message(s) of the step: the trailing user messages of the step's first request;
2. per call, in call order: the assistant message of its response, then the results of its tool
   calls — from the trace, in order (the harness's own record of what each tool returned), else
   found by ``tool_call_id`` in a later request of the step.

Request bodies may be passed still compressed (``bytes`` from the store); only the ones needed are
decompressed — the first of the step always, the others only when the trace lacks a tool result.
That keeps a whole-store export from parsing every request, each of which repeats the history.

Without recorded calls (e.g. a store written by an older goaldrift or a synthetic store) the trace
alone gives one assistant turn with the step's tool calls and final text.

Both ``goaldrift view`` and the Inspect export use this, so they show the same conversation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from goaldrift.store import unblob


@dataclass
class ToolUse:
    id: str
    name: str
    arguments: Any


@dataclass
class Message:
    """One message of a step's conversation; ``call`` holds the gateway call's facts for assistant turns."""

    role: str  # system | user | assistant | tool
    content: str = ""
    tool_calls: list[ToolUse] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None  # the tool's name, for tool results
    status: str | None = None  # a tool result's status (completed | error)
    call: dict[str, Any] | None = None  # call_id, latency_s, prompt/completion tokens, status, error

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content,
                "tool_calls": [t.__dict__ for t in self.tool_calls], "tool_call_id": self.tool_call_id,
                "name": self.name, "status": self.status, "call": self.call}


def _text(content: Any) -> str:
    """OpenAI message content (a string or a list of parts) as plain text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return str(content)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _request(call: dict[str, Any]) -> dict[str, Any] | None:
    """A call's request body, decompressed on first use."""
    req = call.get("request")
    if isinstance(req, bytes):
        req = call["request"] = unblob(req)
    return req


def system_prompt(calls: list[dict[str, Any]]) -> str | None:
    """The system message of the first recorded request, if any."""
    for c in calls:
        msgs = (_request(c) or {}).get("messages") or []
        if msgs and msgs[0].get("role") == "system":
            return _text(msgs[0].get("content"))
    return None


def step_conversation(calls: list[dict[str, Any]], trace: dict[str, Any] | None) -> list[Message]:
    """The step's messages (see the module docstring). ``calls`` are model_calls rows ordered by call_id,
    with ``response`` decoded and ``request`` decoded or still compressed; ``trace`` is the step's
    decoded trace."""
    trace = trace or {}
    traced = list(trace.get("tool_calls") or [])
    recorded = [c for c in calls if c.get("request") is not None]
    if not recorded:
        return _from_trace(trace)
    out: list[Message] = []
    first = (_request(recorded[0]) or {}).get("messages") or []
    prompt: list[Message] = []
    for m in reversed(first):
        if m.get("role") != "user":
            break
        prompt.insert(0, Message("user", _text(m.get("content"))))
    out.extend(prompt)
    results: dict[str, dict] | None = None  # tool messages of the step's requests, by id, built on a miss
    k = 0  # position in the trace's tool calls
    for c in calls:
        facts = {"call_id": c.get("call_id"), "latency_s": c.get("latency_s"), "status": c.get("status"),
                 "prompt_tokens": c.get("prompt_tokens"), "completion_tokens": c.get("completion_tokens"),
                 "retries": c.get("retries"), "error": c.get("error")}
        choices = (c.get("response") or {}).get("choices") or []
        msg = (choices[0].get("message") if choices else None) or {}
        uses = [ToolUse(str(tc.get("id") or ""), str((tc.get("function") or {}).get("name") or ""),
                        _arguments((tc.get("function") or {}).get("arguments")))
                for tc in msg.get("tool_calls") or []]
        out.append(Message("assistant", _text(msg.get("content")), uses, call=facts))
        for u in uses:
            if k < len(traced) and traced[k].get("name") == u.name:
                t = traced[k]
                k += 1
                out.append(Message("tool", _text(t.get("output")), tool_call_id=u.id, name=u.name,
                                   status=t.get("status")))
                continue
            if results is None:
                results = {m["tool_call_id"]: m for r in recorded for m in (_request(r) or {}).get("messages") or []
                           if m.get("role") == "tool" and m.get("tool_call_id")}
            hit = results.get(u.id)
            if hit is not None:
                out.append(Message("tool", _text(hit.get("content")), tool_call_id=u.id, name=u.name))
    return out


def _from_trace(trace: dict[str, Any]) -> list[Message]:
    traced = list(trace.get("tool_calls") or [])
    if not traced and not trace.get("text"):
        return []
    uses = [ToolUse(f"t{i}", str(t.get("name") or ""), t.get("input")) for i, t in enumerate(traced)]
    out = [Message("assistant", _text(trace.get("text")), uses)]
    for u, t in zip(uses, traced):
        out.append(Message("tool", _text(t.get("output")), tool_call_id=u.id, name=u.name, status=t.get("status")))
    return out
