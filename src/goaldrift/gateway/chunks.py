"""OpenAI chat-completion chunks: building them and assembling a stream into one response.

Backends speak chunks only; ``assemble`` gives the non-streaming ``chat.completion`` and is also what
the gateway records for streamed calls, so every stored response has the same shape. A stream that
never said how it finished is assembled with ``finish_reason: null``: a cut-off reply must not read
as a complete one.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def chunk(cid: str, model: str, delta: dict[str, Any], finish_reason: str | None = None,
          usage: dict[str, int] | None = None, created: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created or int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def message_chunks(model: str, *, content: str | None = None, tool_calls: list[dict[str, Any]] | None = None,
                   usage_: dict[str, int] | None = None, piece: int = 0) -> Iterator[dict[str, Any]]:
    """Chunks of one whole assistant message, the way OpenAI streams it: a role delta, content
    (in pieces of ``piece`` characters if > 0), then each tool call (id + name, then arguments),
    then the finish reason, then usage on a final chunk with empty choices."""
    cid = new_id()
    created = int(time.time())
    yield chunk(cid, model, {"role": "assistant", "content": ""}, created=created)
    if content:
        step = piece if piece > 0 else len(content)
        for i in range(0, len(content), step):
            yield chunk(cid, model, {"content": content[i : i + step]}, created=created)
    for i, call in enumerate(tool_calls or []):
        fn = call["function"]
        yield chunk(cid, model, {"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                                 "function": {"name": fn["name"], "arguments": ""}}]},
                    created=created)
        yield chunk(cid, model, {"tool_calls": [{"index": i, "function": {"arguments": fn["arguments"]}}]},
                    created=created)
    yield chunk(cid, model, {}, "tool_calls" if tool_calls else "stop", created=created)
    if usage_ is not None:
        final = chunk(cid, model, {}, created=created, usage=usage_)
        final["choices"] = []
        yield final


def tool_call(name: str, arguments: dict[str, Any] | str) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "call_" + uuid.uuid4().hex[:20], "type": "function", "function": {"name": name, "arguments": args}}


def malformed(c: Any) -> str | None:
    """What is wrong with an upstream chunk's shape, or None: checked before anything reads it."""
    if not isinstance(c, dict):
        return "a chunk is not a JSON object"
    if not isinstance(c.get("choices", []), list) or not isinstance(c.get("usage") or {}, dict):
        return "'choices' must be a list and 'usage' an object"
    for choice in c.get("choices") or []:
        delta = choice.get("delta", {}) if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            return "each choice must be an object with an object 'delta'"
        if not isinstance(delta.get("content") or "", str) or not isinstance(delta.get("tool_calls") or [], list):
            return "'delta.content' must be a string and 'delta.tool_calls' a list"
        for tc in delta.get("tool_calls") or []:
            fn = tc.get("function", {}) if isinstance(tc, dict) else None
            if not isinstance(fn, dict) or not all(isinstance(fn.get(k) or "", str) for k in ("name", "arguments")):
                return "each tool call must have a 'function' with string 'name' and 'arguments'"
    return None


def finish_reason(c: dict[str, Any]) -> str | None:
    """The chunk's finish reason, if it carries one."""
    for choice in c.get("choices") or []:
        if choice.get("finish_reason"):
            return choice["finish_reason"]
    return None


def reply_chars(c: dict[str, Any]) -> int:
    """Characters of reply a chunk adds (content, reasoning, tool names and arguments)."""
    n = 0
    for choice in c.get("choices") or []:
        delta = choice.get("delta") or {}
        for key in ("content", "reasoning_content", "reasoning"):
            if isinstance(delta.get(key), str):
                n += len(delta[key])
        for tc in delta.get("tool_calls") or []:
            fn = (tc.get("function") or {}) if isinstance(tc, dict) else {}
            n += sum(len(v) for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str))
    return n


def assemble(chunks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Fold a chunk stream into one ``chat.completion`` (content, tool_calls, finish_reason, usage)."""
    cid, model, created = new_id(), "", int(time.time())
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    use: dict[str, int] | None = None
    extras: dict[str, Any] = {}  # backend facts worth recording: sampling settings, model file, timings
    for c in chunks:
        cid, model, created = c.get("id", cid), c.get("model", model), c.get("created", created)
        if c.get("usage"):
            use = c["usage"]
        for key in ("system_fingerprint", "goaldrift"):
            if c.get(key):
                extras[key] = c[key]
        for choice in c.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                content.append(delta["content"])
            for tc in delta.get("tool_calls") or []:
                slot = calls.setdefault(tc.get("index", 0), {"id": None, "type": "function",
                                                             "function": {"name": "", "arguments": ""}})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    slot["function"]["name"] += fn["name"]
                if fn.get("arguments"):
                    slot["function"]["arguments"] += fn["arguments"]
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(content) or None}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    out: dict[str, Any] = {
        "id": cid, "object": "chat.completion", "created": created, "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if use is not None:
        out["usage"] = use
    out.update(extras)
    return out
