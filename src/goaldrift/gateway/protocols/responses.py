"""The OpenAI Responses front-end (``/v1/responses``), as Codex CLI speaks it.

Translation to chat completions, and what it cannot carry:
- ``instructions`` becomes the first system message; ``input`` (a string, or a list of items) is
  replayed in order: ``message`` items (roles user / assistant / system / developer → system; text
  and ``input_image`` parts), ``function_call`` items (consecutive ones, and the assistant text before
  them, become one assistant message with ``tool_calls``; ``call_id`` is kept) and
  ``function_call_output`` items (``tool`` messages). ``reasoning`` items are dropped (their encrypted
  content means nothing to another model); other item kinds are refused (400).
- Only ``function`` tools carry; other tool kinds (``custom``, ``web_search``, ``local_shell``…) are
  dropped, since the models behind the gateway cannot run them. ``tool_choice``,
  ``parallel_tool_calls``, ``temperature``, ``top_p`` and ``max_output_tokens`` carry over;
  ``reasoning``, ``text``, ``include``, ``store``, ``prompt_cache_key`` and metadata are dropped.
- ``previous_response_id``: the gateway keeps each route's last 32 responses in memory (the
  conversation that led to them plus their output), so a follow-up may send only its new items. An
  id the route does not hold (another route's, evicted, or from before a restart) is a 400
  ``previous_response_not_found``; a client can always replay its whole ``input`` instead.
Back: text becomes a ``message`` item with one ``output_text`` part, each tool call a ``function_call``
item; finish reason length / content_filter make the response ``incomplete`` with that reason. Usage
is ``input_tokens`` / ``output_tokens`` / ``total_tokens`` (cached prompt tokens when the backend
reports them); reasoning tokens are always 0.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from starlette.responses import JSONResponse

from goaldrift.gateway.backends.base import ModelRoute
from goaldrift.gateway.chunks import assemble
from goaldrift.gateway.protocols.base import ProtocolError, sse, text_of
from goaldrift.gateway.protocols.blocks import Block, BlockEvent, Blocks, blocks_of, usage_of

KEPT_RESPONSES = 32  # per route: what ``previous_response_id`` can refer to
_STATE_KEY = "responses"  # in ModelRoute.state: OrderedDict response id -> chat messages after it
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def _parts(content: Any, where: str) -> str | list[dict[str, Any]]:
    """Message content: text stays a string; with images, a list of chat content parts."""
    if isinstance(content, list) and any(isinstance(p, dict) and p.get("type") == "input_image" for p in content):
        parts: list[dict[str, Any]] = []
        for i, p in enumerate(content):
            if isinstance(p, dict) and p.get("type") == "input_image" and p.get("image_url"):
                parts.append({"type": "image_url", "image_url": {"url": p["image_url"]}})
            else:
                parts.append({"type": "text", "text": text_of([p], f"{where}.{i}")})
        return parts
    return text_of(content, where)


def _input(items: list[Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"input.{i}"
        if not isinstance(item, dict):
            raise ProtocolError(f"{where}: must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "assistant", "system", "developer"):
                raise ProtocolError(f"{where}.role: must be user, assistant, system or developer")
            messages.append({"role": "system" if role == "developer" else role,
                             "content": _parts(item.get("content", ""), f"{where}.content")})
        elif kind == "function_call":
            call = {"id": str(item.get("call_id")), "type": "function",
                    "function": {"name": str(item.get("name")), "arguments": str(item.get("arguments") or "")}}
            last = messages[-1] if messages else None
            if last and last["role"] == "assistant" and isinstance(last.get("content"), (str, type(None))):
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output", "")
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id")),
                             "content": output if isinstance(output, str) else text_of(output, f"{where}.output")})
        elif kind != "reasoning":
            raise ProtocolError(f"{where}.type: a {kind!r} item cannot be carried to this gateway's models")
    return messages


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": str(choice.get("name"))}}
    raise ProtocolError("tool_choice: must be auto, none, required or a function")


def to_chat(body: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat-completions form of a Responses request, after the conversation ``history`` (which
    holds no instructions: like OpenAI's, they are not carried over from a previous response)."""
    raw = body.get("input")
    if isinstance(raw, str):
        items: list[Any] = [{"type": "message", "role": "user", "content": raw}]
    elif isinstance(raw, list):
        items = raw
    else:
        raise ProtocolError("input: must be a string or a list of items")
    messages = [{"role": "system", "content": text_of(body["instructions"], "instructions")}] \
        if body.get("instructions") else []
    messages += history + _input(items)
    out: dict[str, Any] = {"messages": messages, "stream": bool(body.get("stream"))}
    tools = [{"type": "function", "function": {k: t[k] for k in ("name", "description", "parameters", "strict")
                                               if t.get(k) is not None}}
             for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"]
    if tools:
        out["tools"] = tools
    if body.get("tool_choice") is not None:
        out["tool_choice"] = _tool_choice(body["tool_choice"])
    for ours, theirs in (("parallel_tool_calls", "parallel_tool_calls"), ("temperature", "temperature"),
                         ("top_p", "top_p"), ("max_tokens", "max_output_tokens")):
        if body.get(theirs) is not None:
            out[ours] = body[theirs]
    if out["stream"]:
        out["stream_options"] = {"include_usage": True}
    return out


def _item(block: Block, item_id: str, status: str = "completed") -> dict[str, Any]:
    if block.kind == "text":
        content = [{"type": "output_text", "text": block.text, "annotations": []}] if status == "completed" else []
        return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}
    return {"type": "function_call", "id": item_id, "call_id": block.call_id, "name": block.name,
            "arguments": block.text if status == "completed" else "", "status": status}


class _ResponsesExchange:
    def __init__(self, body: dict[str, Any], route: ModelRoute):
        self.route = route
        kept: OrderedDict[str, list[dict[str, Any]]] = route.state.setdefault(_STATE_KEY, OrderedDict())
        previous = body.get("previous_response_id")
        if previous is not None and previous not in kept:
            raise ProtocolError(f"previous_response_id: {str(previous)[:80]!r} is not one of this route's last "
                                f"{KEPT_RESPONSES} responses; send the whole conversation as 'input' instead",
                                code="previous_response_not_found")
        self.internal = to_chat(body, copy.deepcopy(kept[previous]) if previous else [])
        self.stream = self.internal["stream"]
        self.body = body
        self.id = "resp_" + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.blocks = Blocks()
        self.item_ids: dict[int, str] = {}  # block position -> output item id
        self.sequence = 0

    def _item_id(self, block: Block) -> str:
        prefix = "msg_" if block.kind == "text" else "fc_"
        return self.item_ids.setdefault(block.position, prefix + uuid.uuid4().hex[:24])

    def _response(self, model: str, status: str, output: list[dict[str, Any]],
                  done: dict[str, Any] | None = None) -> dict[str, Any]:
        b = self.body
        out: dict[str, Any] = {
            "id": self.id, "object": "response", "created_at": self.created, "status": status, "model": model,
            "output": output, "error": None, "incomplete_details": None, "instructions": b.get("instructions"),
            "previous_response_id": b.get("previous_response_id"), "metadata": b.get("metadata") or {},
            "parallel_tool_calls": b.get("parallel_tool_calls", True), "tool_choice": b.get("tool_choice", "auto"),
            "tools": b.get("tools") or [], "temperature": b.get("temperature"), "top_p": b.get("top_p"),
            "max_output_tokens": b.get("max_output_tokens"), "usage": None,
        }
        if done is not None:
            reason = _INCOMPLETE.get(done["choices"][0]["finish_reason"])
            if reason:
                out["status"], out["incomplete_details"] = "incomplete", {"reason": reason}
            prompt, output_tokens, cached = usage_of(done)
            out["usage"] = {"input_tokens": prompt, "input_tokens_details": {"cached_tokens": cached},
                            "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
                            "total_tokens": prompt + output_tokens}
            self._keep(done)
        return out

    def _keep(self, done: dict[str, Any]) -> None:
        """Remember the conversation after this response, for a later ``previous_response_id``."""
        kept: OrderedDict = self.route.state[_STATE_KEY]
        message = {k: v for k, v in done["choices"][0]["message"].items() if v is not None}
        skip = 1 if self.body.get("instructions") else 0  # this request's instructions, not carried over
        kept[self.id] = [*self.internal["messages"][skip:], message]
        while len(kept) > KEPT_RESPONSES:
            kept.popitem(last=False)

    def reply(self, chunks: list[dict[str, Any]]) -> dict[str, Any]:
        done = assemble(chunks)
        return self._response(done["model"], "completed",
                              [_item(b, self._item_id(b)) for b in blocks_of(done)], done)

    def _event(self, kind: str, **data: Any) -> bytes:
        self.sequence += 1
        return sse(kind, {"type": kind, "sequence_number": self.sequence, **data})

    def _spell(self, events: list[BlockEvent]) -> list[bytes]:
        out = []
        for e in events:
            block, item_id = e.block, self._item_id(e.block)
            at = {"output_index": block.position}
            if e.kind == "open":
                out.append(self._event("response.output_item.added", **at, item=_item(block, item_id, "in_progress")))
                if block.kind == "text":
                    out.append(self._event("response.content_part.added", item_id=item_id, **at, content_index=0,
                                           part={"type": "output_text", "text": "", "annotations": []}))
            elif e.kind == "delta":
                kind = "response.output_text.delta" if block.kind == "text" else "response.function_call_arguments.delta"
                extra = {"content_index": 0} if block.kind == "text" else {}
                out.append(self._event(kind, item_id=item_id, **at, **extra, delta=e.text))
            elif block.kind == "text":
                out += [self._event("response.output_text.done", item_id=item_id, **at, content_index=0, text=block.text),
                        self._event("response.content_part.done", item_id=item_id, **at, content_index=0,
                                    part={"type": "output_text", "text": block.text, "annotations": []}),
                        self._event("response.output_item.done", **at, item=_item(block, item_id))]
            else:
                out += [self._event("response.function_call_arguments.done", item_id=item_id, **at,
                                    name=block.name, arguments=block.text),
                        self._event("response.output_item.done", **at, item=_item(block, item_id))]
        return out

    def events(self, chunk: dict[str, Any]) -> Iterable[bytes]:
        out = []
        if self.sequence == 0:
            created = self._response(chunk.get("model", ""), "in_progress", [])
            out += [self._event("response.created", response=created),
                    self._event("response.in_progress", response=created)]
        return out + self._spell(self.blocks.feed(chunk))

    def end(self, chunks: list[dict[str, Any]]) -> Iterable[bytes]:
        done = assemble(chunks)
        closing = self._spell(self.blocks.close())
        response = self._response(done["model"], "completed",
                                  [_item(b, self._item_id(b)) for b in self.blocks.blocks], done)
        kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
        return [*closing, self._event(kind, response=response)]

    def failure(self, message: str) -> bytes:
        failed = self._response("", "failed", [_item(b, self._item_id(b)) for b in self.blocks.blocks])
        failed["error"] = {"code": "server_error", "message": message}
        return self._event("response.failed", response=failed)


class Responses:
    name = "responses"

    def exchange(self, body: dict[str, Any], route: ModelRoute) -> _ResponsesExchange:
        return _ResponsesExchange(body, route)

    def error(self, status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": code or kind}},
                            status_code=status)


RESPONSES = Responses()
