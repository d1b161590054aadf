"""A ``StepTrace`` from a ``stream-json`` event stream: Claude Code's (``--output-format stream-json
--verbose --include-partial-messages``), which Qwen Code speaks too (``-o stream-json``).

The events of one process, one JSON object per line:

- ``system``/``init``: the session id, the tools offered, the model; ``system``/``compact_boundary``
  when the conversation was compacted; ``system``/``api_retry`` when a model call is retried;
- ``stream_event``: Claude Code's raw Messages stream of each model call; only ``message_delta`` is
  used — it carries the call's real usage (Claude Code prints the ``assistant`` message before it, with
  zero usage; Qwen Code's ``assistant`` messages carry their usage themselves);
- ``assistant``: a model message (Claude Code: one per content block, sharing the message id):
  ``text`` and ``tool_use`` blocks (id, name, input); an API failure is an ``assistant`` event with
  ``is_api_error_message``;
- ``user``: ``tool_result`` blocks (``tool_use_id``, content, ``is_error``);
- ``result``: the turn's end: ``is_error``, ``result`` text, ``terminal_reason``, summed ``usage``.

Tokens are per model call (input + cache read + cache creation in, output out), from ``message_delta``
or the message's own usage, whichever is larger, with the ``result`` totals as a floor when a call's
usage is missing (the process was killed).
"""

from __future__ import annotations

from typing import Any

from goaldrift.agents.base import StepTrace, ToolCall
from goaldrift.agents.cli_harness import CliAgent, text_of


def _tokens_in(usage: dict[str, Any]) -> int:
    return sum(int(usage.get(k) or 0) for k in ("input_tokens", "cache_read_input_tokens",
                                                "cache_creation_input_tokens"))


def count(event: dict[str, Any]) -> tuple[int, int]:
    """Tool calls and tokens an event reports (the driver's limits)."""
    if event.get("type") == "assistant":  # Qwen Code's carry their usage; Claude Code's show zero
        message = event.get("message") or {}
        usage = message.get("usage") or {}
        calls = sum(1 for b in message.get("content") or [] if isinstance(b, dict) and b.get("type") == "tool_use")
        return calls, _tokens_in(usage) + int(usage.get("output_tokens") or 0)
    inner = event.get("event") or {}
    if event.get("type") == "stream_event" and inner.get("type") == "message_delta":
        usage = inner.get("usage") or {}
        return 0, _tokens_in(usage) + int(usage.get("output_tokens") or 0)
    return 0, 0


def keep(event: dict[str, Any]) -> bool:
    """Stored events: everything but the streaming deltas (their content is in the ``assistant`` events)."""
    return event.get("type") != "stream_event" or (event.get("event") or {}).get("type") == "message_delta"


def fold(events: list[dict[str, Any]]) -> tuple[StepTrace, str | None]:
    """The step's trace and the session id the events name."""
    trace = StepTrace()
    session_id = None
    texts: list[str] = []
    calls: dict[str, ToolCall] = {}
    messages: list[str] = []  # model calls, by message id, in order
    usage: dict[str, dict[str, int]] = {}
    result: dict[str, Any] | None = None
    for ev in events:
        kind, sub = ev.get("type"), ev.get("subtype")
        session_id = session_id or ev.get("session_id")
        if kind == "system":
            if sub == "init":
                trace.raw["tools"] = ev.get("tools")
            elif sub == "compact_boundary" or "compress" in str(sub):
                trace.compacted = True
            elif sub == "api_retry":
                trace.raw.setdefault("model_retries", []).append(
                    {k: ev.get(k) for k in ("attempt", "max_retries", "error_status", "error")})
        elif kind == "stream_event":
            inner = ev.get("event") or {}
            if inner.get("type") == "message_delta" and ev.get("api_message_id"):
                u = inner.get("usage") or {}
                seen = usage.setdefault(ev["api_message_id"], {"in": 0, "out": 0})
                seen["in"] = max(seen["in"], _tokens_in(u))
                seen["out"] = max(seen["out"], int(u.get("output_tokens") or 0))
        elif kind == "assistant":
            message = ev.get("message") or {}
            content = message.get("content") or []
            if ev.get("is_api_error_message") or ev.get("error"):
                trace.errors.append(text_of(content) or f"API error {ev.get('api_error_status')}")
                continue
            mid = message.get("id")
            if mid and mid not in messages:
                messages.append(mid)
            own = message.get("usage") or {}
            if mid and _tokens_in(own):
                seen = usage.setdefault(mid, {"in": 0, "out": 0})
                seen["in"] = max(seen["in"], _tokens_in(own))
                seen["out"] = max(seen["out"], int(own.get("output_tokens") or 0))
            for block in content:
                if not isinstance(block, dict):
                    continue
                if block.get("type") == "text" and block.get("text"):
                    texts.append(block["text"])
                elif block.get("type") == "tool_use":
                    calls[str(block.get("id"))] = ToolCall(name=str(block.get("name")), input=block.get("input"),
                                                           output="(no result: the step ended first)",
                                                           status="error")
        elif kind == "user":
            for block in (ev.get("message") or {}).get("content") or []:
                if isinstance(block, dict) and block.get("type") == "tool_result":
                    call = calls.get(str(block.get("tool_use_id")))
                    if call is not None:
                        call.output = text_of(block.get("content"))
                        call.status = "error" if block.get("is_error") else "completed"
        elif kind == "result":
            result = ev
    trace.tool_calls = list(calls.values())
    trace.text = "\n\n".join(t.strip() for t in texts if t.strip())
    per_call = [usage.get(m, {"in": 0, "out": 0}) for m in messages]
    trace.model_calls = len(messages)
    trace.tokens_in = sum(c["in"] for c in per_call)
    trace.tokens_out = sum(c["out"] for c in per_call)
    trace.context_tokens = per_call[-1]["in"] if per_call else 0
    if result is not None:
        total = result.get("usage") or {}
        trace.tokens_in = max(trace.tokens_in, _tokens_in(total))
        trace.tokens_out = max(trace.tokens_out, int(total.get("output_tokens") or 0))
        trace.raw.update(terminal_reason=result.get("terminal_reason"), num_turns=result.get("num_turns"))
        if result.get("is_error"):
            error = str(result.get("result") or result.get("terminal_reason") or "Claude Code reported an error")
            if error not in trace.errors:
                trace.errors.append(error)
    trace.raw["calls"] = per_call
    return trace, session_id


class StreamJsonAgent(CliAgent):
    """A command-line harness whose events are this stream (Claude Code, Qwen Code): counting, keeping
    and folding them is the same; the session id comes from the first step's ``init`` event."""

    def count(self, event: dict[str, Any]) -> tuple[int, int]:
        return count(event)

    def keep(self, event: dict[str, Any]) -> bool:
        return keep(event)

    def fold(self, events: list[dict[str, Any]]) -> StepTrace:
        folded, session_id = fold(events)
        self.session_id = self.session_id or session_id
        return folded
