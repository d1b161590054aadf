"""The Anthropic Messages front-end (``/v1/messages``, ``/v1/messages/count_tokens``), as Claude Code speaks it.

Translation to chat completions, and what it cannot carry:
- ``system`` (a string or text blocks) becomes one system message (blocks joined by a blank line);
  ``cache_control`` marks are dropped (chat has none).
- ``text`` and base64/url ``image`` blocks carry over; an assistant's ``tool_use`` blocks become its
  ``tool_calls`` (``input`` serialised as JSON arguments, the id kept), a user's ``tool_result`` blocks
  become ``tool`` messages placed before the rest of that user turn (chat wants results right after
  the calls). ``is_error`` is carried as an ``[error]`` prefix; images inside a result cannot be.
- ``thinking`` / ``redacted_thinking`` blocks are dropped: their signatures mean nothing to another
  model. ``top_k``, ``metadata``, ``thinking`` settings and beta headers are dropped. Server tools
  (``type`` other than ``custom``) and other block kinds (documents, search results) are refused (400).
- ``max_tokens``, ``temperature``, ``top_p``, ``stop_sequences`` (as ``stop``), ``tool_choice`` (auto,
  any → required, tool → that function, none) and ``disable_parallel_tool_use`` carry over.
Back: text and tool calls become ``text`` / ``tool_use`` blocks; a tool call whose arguments are not a
JSON object becomes ``input: {"_unparsed_arguments": "..."}``, so the harness's schema check fails and
the model sees it. ``finish_reason`` maps stop → ``end_turn``, length → ``max_tokens``, tool_calls →
``tool_use``, content_filter → ``refusal``; which stop sequence matched is not known (``stop_sequence``
is always null). Streams start with ``message_start`` whose usage is zero — chat reports usage only at
the end — and ``message_delta`` carries the real ``input_tokens`` and ``output_tokens``.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable
from typing import Any

from starlette.responses import JSONResponse

from goaldrift.gateway.backends.base import ModelRoute
from goaldrift.gateway.chunks import assemble
from goaldrift.gateway.protocols.base import ProtocolError, sse, text_of
from goaldrift.gateway.protocols.blocks import Block, Blocks, blocks_of, usage_of

_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
                403: "permission_error", 404: "not_found_error", 408: "timeout_error", 413: "request_too_large",
                429: "rate_limit_error", 503: "overloaded_error"}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                 "function_call": "tool_use", "content_filter": "refusal"}
_DROPPED_BLOCKS = {"thinking", "redacted_thinking"}


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url":
        url = str(source.get("url"))
    else:
        raise ProtocolError(f"{where}.source: only base64 and url images can be carried")
    return {"type": "image_url", "image_url": {"url": url}}


def _result_text(block: dict[str, Any], where: str) -> str:
    content = block.get("content", "")
    if isinstance(content, list):  # an image in a tool result has no place in a chat tool message
        content = [p for p in content if not (isinstance(p, dict) and p.get("type") == "image")]
    text = text_of(content, f"{where}.content")
    return "[error] " + text if block.get("is_error") else text


def _message(i: int, message: Any) -> list[dict[str, Any]]:
    where = f"messages.{i}"
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
        raise ProtocolError(f"{where}.role: must be 'user', 'assistant' or 'system'")
    role, content = message["role"], message.get("content")
    if role == "system":  # Claude Code ≥ 2.1 sends its environment block as a system turn mid-conversation
        return [{"role": "system", "content": text_of(content, f"{where}.content")}]
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    if not isinstance(content, list):
        raise ProtocolError(f"{where}.content: must be a string or a list of content blocks")
    results: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        at = f"{where}.content.{j}"
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image" and role == "user":
            parts.append(_image(block, at))
        elif kind == "tool_use" and role == "assistant":
            calls.append({"id": str(block.get("id")), "type": "function",
                          "function": {"name": str(block.get("name")),
                                       "arguments": json.dumps(block.get("input") or {})}})
        elif kind == "tool_result" and role == "user":
            results.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id")),
                            "content": _result_text(block, at)})
        elif kind not in _DROPPED_BLOCKS:
            raise ProtocolError(f"{at}.type: a {kind!r} block in a {role} message cannot be carried "
                                "to this gateway's models")
    out = results
    if role == "assistant" and (parts or calls):
        text = "".join(p["text"] for p in parts)
        out.append({"role": "assistant", "content": text or None, **({"tool_calls": calls} if calls else {})})
    elif parts:
        only_text = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts) if only_text else parts})
    return out


def _tool(i: int, tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type", "custom") != "custom" or not isinstance(tool.get("name"), str):
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise ProtocolError(f"tools.{i}: only custom tools (name, input_schema) can be carried, not {kind!r}")
    fn: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
    if tool.get("description"):
        fn["description"] = tool["description"]
    return {"type": "function", "function": fn}


def _tool_choice(choice: Any) -> Any:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "tool":
        return {"type": "function", "function": {"name": str(choice.get("name"))}}
    mapped = {"auto": "auto", "any": "required", "none": "none"}.get(str(kind))
    if mapped is None:
        raise ProtocolError("tool_choice.type: must be auto, any, tool or none")
    return mapped


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat-completions form of a Messages request (see the module docstring for what is lost)."""
    if not isinstance(body.get("messages"), list):
        raise ProtocolError("messages: must be a list")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise ProtocolError("max_tokens: a positive integer is required")
    messages: list[dict[str, Any]] = []
    if body.get("system"):
        messages.append({"role": "system", "content": text_of(body["system"], "system")})
    for i, message in enumerate(body["messages"]):
        messages.extend(_message(i, message))
    out: dict[str, Any] = {"messages": messages, "max_tokens": body["max_tokens"], "stream": bool(body.get("stream"))}
    if body.get("tools"):
        if not isinstance(body["tools"], list):
            raise ProtocolError("tools: must be a list")
        out["tools"] = [_tool(i, t) for i, t in enumerate(body["tools"])]
    if body.get("tool_choice"):
        out["tool_choice"] = _tool_choice(body["tool_choice"])
        if body["tool_choice"].get("disable_parallel_tool_use"):
            out["parallel_tool_calls"] = False
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = body["stop_sequences"]
    if out["stream"]:
        out["stream_options"] = {"include_usage": True}
    return out


def estimate_tokens(body: dict[str, Any]) -> int:
    """``count_tokens``: ~4 characters per token over the JSON of the translated system, messages and
    tools. No tokenizer of the model behind the route is at hand; this is the scripted model's rule."""
    request = to_chat(body | {"max_tokens": 1})
    return max(1, math.ceil(len(json.dumps([request["messages"], request.get("tools") or []])) / 4))


def _content(block: Block) -> dict[str, Any]:
    if block.kind == "text":
        return {"type": "text", "text": block.text}
    try:
        value = json.loads(block.text or "{}")
    except ValueError:
        value = None
    return {"type": "tool_use", "id": block.call_id, "name": block.name,
            "input": value if isinstance(value, dict) else {"_unparsed_arguments": block.text}}


def _usage(completion: dict[str, Any]) -> dict[str, int]:
    prompt, output, cached = usage_of(completion)
    return {"input_tokens": prompt - cached, "output_tokens": output, "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0}


class _MessagesExchange:
    def __init__(self, body: dict[str, Any]):
        self.internal = to_chat(body)
        self.stream = self.internal["stream"]
        self.id = "msg_" + uuid.uuid4().hex[:24]
        self.blocks = Blocks()
        self.started = False

    def _message(self, model: str, content: list[dict[str, Any]], stop: str | None,
                 usage: dict[str, int]) -> dict[str, Any]:
        return {"id": self.id, "type": "message", "role": "assistant", "model": model, "content": content,
                "stop_reason": stop, "stop_sequence": None, "usage": usage}

    def reply(self, chunks: list[dict[str, Any]]) -> dict[str, Any]:
        done = assemble(chunks)
        stop = _STOP_REASONS.get(done["choices"][0]["finish_reason"], "end_turn")
        return self._message(done["model"], [_content(b) for b in blocks_of(done)], stop, _usage(done))

    def _spell(self, events: list) -> list[bytes]:
        out = []
        for e in events:
            if e.kind == "open":
                start = {"type": "text", "text": ""} if e.block.kind == "text" else \
                    {"type": "tool_use", "id": e.block.call_id, "name": e.block.name, "input": {}}
                out.append(sse("content_block_start", {"type": "content_block_start", "index": e.block.position,
                                                       "content_block": start}))
            elif e.kind == "delta":
                delta = {"type": "text_delta", "text": e.text} if e.block.kind == "text" else \
                    {"type": "input_json_delta", "partial_json": e.text}
                out.append(sse("content_block_delta", {"type": "content_block_delta", "index": e.block.position,
                                                       "delta": delta}))
            else:
                out.append(sse("content_block_stop", {"type": "content_block_stop", "index": e.block.position}))
        return out

    def events(self, chunk: dict[str, Any]) -> Iterable[bytes]:
        out = []
        if not self.started:
            self.started = True
            zero = {"input_tokens": 0, "output_tokens": 0}
            out.append(sse("message_start", {"type": "message_start",
                                             "message": self._message(chunk.get("model", ""), [], None, zero)}))
        return out + self._spell(self.blocks.feed(chunk))

    def end(self, chunks: list[dict[str, Any]]) -> Iterable[bytes]:
        done = assemble(chunks)
        stop = _STOP_REASONS.get(done["choices"][0]["finish_reason"], "end_turn")
        return [*self._spell(self.blocks.close()),
                sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                      "usage": _usage(done)}),
                sse("message_stop", {"type": "message_stop"})]

    def failure(self, message: str) -> bytes:
        return sse("error", {"type": "error", "error": {"type": "api_error", "message": message}})


class AnthropicMessages:
    name = "anthropic_messages"

    def exchange(self, body: dict[str, Any], route: ModelRoute) -> _MessagesExchange:
        return _MessagesExchange(body)

    def error(self, status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
        kind = _ERROR_TYPES.get(status, "api_error")
        return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)


MESSAGES = AnthropicMessages()

