"""Claude models on Anthropic's Messages API (``POST {base_url}/v1/messages``).

The key is read from the environment variable the experiment names and sent only upstream
(``x-api-key``); the agent holds its route's token. Requests always stream upstream; retries and
backoff (429, 529 overloaded, 5xx, timeouts, connection errors, truncated streams, an ``overloaded``
or ``api_error`` event before anything was passed on) are ``upstream.attempts``'s. A stream has
ended properly only with ``message_stop``. Upstream errors keep Anthropic's own words: an error body
``{"type": "error", "error": {"type", "message"}}`` becomes ``<type>: <message>`` in the call's error;
401/403/404 (key, base URL, model) count against the endpoint, other 4xx are the request's fault.

Two ways in:
- ``relay`` (same protocol: a harness speaking Messages, such as Claude Code): the client's body goes
  upstream unchanged but for the model name (and the model entry's own ``temperature`` /
  ``max_tokens`` when it sets them), with the client's ``anthropic-beta`` header; the provider's
  events reach the client unchanged (thinking blocks and their signatures, cache usage, citations),
  and a client that did not stream gets the message they add up to. Meanwhile the same reply is
  turned into chat chunks for the gateway's record, budget and reply cap.
- ``stream`` (any other front-end): the chat-completions request is translated to Messages
  (``to_messages``) and the reply back to chat chunks. Dropped on the way, as Messages has no place
  for them: ``seed``, ``response_format``, ``presence_penalty``, ``frequency_penalty``.

Token usage is normalised to the chat form: ``prompt_tokens`` is input + cache read + cache creation
tokens (what the model read), ``prompt_tokens_details.cached_tokens`` the cache reads,
``completion_tokens`` the output tokens (thinking included, as Anthropic counts them).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from goaldrift.errors import BackendError, EndpointError, UpstreamRejected
from goaldrift.gateway.backends.base import CallContext, WireReply
from goaldrift.gateway.backends.upstream import Retryable, api_key, attempts, client, line_cap, lines
from goaldrift.gateway.chunks import chunk, new_id, reply_chars
from goaldrift.gateway.probe import PROBE_TIMEOUT_S, reason
from goaldrift.gateway.protocols.base import sse
from goaldrift.modelspec import AnthropicParams, ModelSpec

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
           "model_context_window_exceeded": "length", "tool_use": "tool_calls", "refusal": "content_filter"}
_RETRY_EVENTS = {"overloaded_error", "api_error"}  # an ``error`` event worth another attempt


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def normalised_usage(usage: dict[str, Any]) -> dict[str, Any]:
    """Anthropic's usage in the chat form (see the module docstring)."""
    read = _int(usage.get("cache_read_input_tokens"))
    prompt = _int(usage.get("input_tokens")) + read + _int(usage.get("cache_creation_input_tokens"))
    output = _int(usage.get("output_tokens"))
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": read}}


def describe(status: int, text: str) -> str:
    """``<type>: <message>`` from Anthropic's error body, else the body's start."""
    try:
        error = json.loads(text).get("error") or {}
        return f"{error['type']}: {error['message']}"
    except (ValueError, AttributeError, KeyError, TypeError):
        return text


# -- chat completions -> Messages ------------------------------------------------------------------

def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return [{"type": "text", "text": _text(content)}] if _text(content) else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text" and part.get("text"):
            blocks.append({"type": "text", "text": part["text"]})
        elif part.get("type") == "image_url":
            url = str((part.get("image_url") or {}).get("url", ""))
            media, sep, data = url.partition(";base64,")
            source = ({"type": "base64", "media_type": media.removeprefix("data:"), "data": data}
                      if url.startswith("data:") and sep else {"type": "url", "url": url})
            blocks.append({"type": "image", "source": source})
    return blocks


def _tool_use(call: dict[str, Any]) -> dict[str, Any]:
    fn = call.get("function") or {}
    try:
        value = json.loads(fn.get("arguments") or "{}")
    except ValueError:
        value = None
    return {"type": "tool_use", "id": str(call.get("id")), "name": str(fn.get("name")),
            "input": value if isinstance(value, dict) else {"_unparsed_arguments": fn.get("arguments")}}


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if isinstance(choice, dict):
        out: dict[str, Any] = {"type": "tool", "name": str((choice.get("function") or {}).get("name"))}
    elif choice in ("auto", "required", "none"):
        out = {"type": {"auto": "auto", "required": "any", "none": "none"}[choice]}
    elif parallel is False:
        out = {"type": "auto"}
    else:
        return None
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def to_messages(request: dict[str, Any], spec: ModelSpec, params: AnthropicParams) -> dict[str, Any]:
    """The Messages form of a chat-completions request (system messages joined into ``system``; tool
    messages become ``tool_result`` blocks of a user turn; consecutive turns of one role merged)."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []

    def push(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})

    for i, m in enumerate(request.get("messages") or []):
        role = m.get("role") if isinstance(m, dict) else None
        if role in ("system", "developer"):
            system.append(_text(m.get("content")))
        elif role == "user":
            push("user", _user_blocks(m.get("content")))
        elif role == "assistant":
            text = _text(m.get("content"))
            push("assistant", ([{"type": "text", "text": text}] if text else [])
                 + [_tool_use(c) for c in m.get("tool_calls") or [] if isinstance(c, dict)])
        elif role == "tool":
            push("user", [{"type": "tool_result", "tool_use_id": str(m.get("tool_call_id")),
                           "content": _text(m.get("content"))}])
        else:
            raise UpstreamRejected(f"messages.{i}.role: {role!r} cannot be sent to Anthropic's Messages API")
    body: dict[str, Any] = {
        "model": spec.model, "messages": messages, "stream": True,
        "max_tokens": spec.max_tokens or request.get("max_tokens") or request.get("max_completion_tokens")
        or params.default_max_tokens,
    }
    if system:
        body["system"] = "\n\n".join(system)
    tools = [t.get("function") or {} for t in request.get("tools") or [] if isinstance(t, dict)]
    if tools:
        body["tools"] = [{"name": fn.get("name"), "input_schema": fn.get("parameters") or {"type": "object"},
                          **({"description": fn["description"]} if fn.get("description") else {})} for fn in tools]
    choice = _tool_choice(request.get("tool_choice"), request.get("parallel_tool_calls"))
    if choice and tools:
        body["tool_choice"] = choice
    temperature = spec.temperature if spec.temperature is not None else request.get("temperature")
    if temperature is not None:
        body["temperature"] = temperature
    if request.get("top_p") is not None:
        body["top_p"] = request["top_p"]
    stop = request.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    return body


# -- Messages events -> chat chunks ----------------------------------------------------------------

class MessageEvents:
    """Reads one Messages stream: each event becomes chat chunks (``feed``), and ``message`` adds the
    events up to the reply a non-streaming call would have got (thinking blocks and signatures kept)."""

    def __init__(self) -> None:
        self.id = new_id()
        self.model = ""
        self.message: dict[str, Any] | None = None
        self.blocks: dict[int, dict[str, Any]] = {}  # Anthropic block index -> the block in ``message``
        self.tools: dict[int, int] = {}  # Anthropic block index -> chat tool-call index
        self.partial: dict[int, str] = {}  # tool block index -> its input JSON so far
        self.stopped = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return chunk(self.id, self.model, delta, finish)

    def _block_delta(self, index: int, block: dict[str, Any], delta: dict[str, Any]) -> list[dict[str, Any]]:
        kind = delta.get("type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + str(delta.get("text", ""))
            return [self._chunk({"content": str(delta.get("text", ""))})]
        if kind == "input_json_delta" and index in self.tools:
            piece = str(delta.get("partial_json", ""))
            self.partial[index] += piece
            return [self._chunk({"tool_calls": [{"index": self.tools[index], "function": {"arguments": piece}}]})]
        if kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + str(delta.get("thinking", ""))
            return [self._chunk({"reasoning_content": str(delta.get("thinking", ""))})]
        if kind == "signature_delta":
            block["signature"] = delta.get("signature")
        elif kind == "citations_delta":
            block.setdefault("citations", []).append(delta.get("citation"))
        return []

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "error":
            error = event.get("error") if isinstance(event.get("error"), dict) else {}
            text = f"{error.get('type')}: upstream error event: {error.get('message')}"
            raise (Retryable if error.get("type") in _RETRY_EVENTS else BackendError)(text)
        if kind == "message_start":
            start = event.get("message") if isinstance(event.get("message"), dict) else {}
            self.message = {**start, "content": []}
            self.model = str(start.get("model", ""))
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind not in ("content_block_start", "content_block_delta", "content_block_stop", "message_delta",
                        "message_stop"):
            return []  # ping, and event kinds newer than this reader (still relayed to the client)
        if self.message is None:
            raise BackendError(f"upstream stream sent {kind} before message_start")
        index = event.get("index")
        if kind == "content_block_start" and isinstance(index, int):
            block = dict(event.get("content_block") or {})
            self.blocks[index] = block
            self.message["content"].append(block)
            if block.get("type") == "tool_use":
                self.tools[index], self.partial[index] = len(self.tools), ""
                return [self._chunk({"tool_calls": [{"index": self.tools[index], "id": block.get("id"),
                                                     "type": "function",
                                                     "function": {"name": block.get("name"), "arguments": ""}}]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            return []
        if kind == "content_block_delta" and index in self.blocks:
            delta = event.get("delta") if isinstance(event.get("delta"), dict) else {}
            return self._block_delta(index, self.blocks[index], delta)
        if kind == "content_block_stop" and index in self.tools:
            try:
                self.blocks[index]["input"] = json.loads(self.partial[index] or "{}")
            except ValueError:
                self.blocks[index]["input"] = {"_unparsed_arguments": self.partial[index]}
            return []
        if kind == "message_delta":
            delta = event.get("delta") if isinstance(event.get("delta"), dict) else {}
            self.message.update({k: delta[k] for k in ("stop_reason", "stop_sequence") if k in delta})
            usage = {**(self.message.get("usage") or {}), **(event.get("usage") or {})}
            self.message["usage"] = usage
            finish = self._chunk({}, _FINISH.get(str(delta.get("stop_reason")), "stop"))
            final = chunk(self.id, self.model, {}, usage=normalised_usage(usage))
            final["choices"] = []
            return [finish, final]
        if kind == "message_stop":
            self.stopped = True
        return []


# -- the backend -----------------------------------------------------------------------------------

class AnthropicBackend:
    name = "anthropic"
    protocol = "anthropic_messages"  # the front-end whose calls are relayed, not translated

    def __init__(self, spec: ModelSpec, transport: httpx.AsyncBaseTransport | None = None,
                 backoff_s: float | None = None):
        assert spec.model, "ModelSpec checks the anthropic entry at load"
        key = api_key(spec)
        self.spec = spec
        self.model = spec.id
        self.params = AnthropicParams.model_validate(spec.params)
        self.backoff_s = self.params.retry_backoff_s if backoff_s is None else backoff_s
        headers = {"anthropic-version": API_VERSION, **({"x-api-key": key} if key else {})}
        self._client = client(spec, spec.base_url or DEFAULT_BASE_URL, headers, transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def probe(self) -> None:
        """Check, before any run, that the endpoint answers and knows the model (``EndpointError``)."""
        path = f"/v1/models/{self.spec.model}"

        def fail(why: str) -> EndpointError:
            return EndpointError(f"model {self.spec.id!r}: {self._client.base_url}{path}: {why}. Fix "
                                 "models[].base_url, model or api_key_env in the experiment (nothing was run "
                                 "or written)")

        try:
            resp = await self._client.get(path, timeout=PROBE_TIMEOUT_S)
        except httpx.HTTPError as exc:
            raise fail(reason(exc)) from None
        if resp.status_code in (401, 403):
            raise fail(f"HTTP {resp.status_code}: the endpoint rejected the key "
                       f"({self.spec.api_key_env or 'no api_key_env set'})")
        if resp.status_code == 404:
            raise fail(f"HTTP 404: model {self.spec.model!r} is not served here: {describe(404, resp.text)[:200]}")

    async def _events(self, resp: httpx.Response, max_reply_chars: int | None) -> AsyncIterator[dict[str, Any]]:
        async for line in lines(resp, line_cap(max_reply_chars)):
            if not line.startswith("data:"):
                continue
            try:
                event = json.loads(line[5:])
            except (json.JSONDecodeError, RecursionError):
                raise BackendError(f"upstream sent a malformed event: {line[:200]}") from None
            if not isinstance(event, dict):
                raise BackendError(f"upstream sent an event that is not an object: {line[:200]}")
            yield event

    def _reader(self, wire: WireReply | None) -> Callable[[httpx.Response, int | None], AsyncIterator[dict]]:
        async def read(resp: httpx.Response, max_reply_chars: int | None) -> AsyncIterator[dict[str, Any]]:
            if wire is not None:
                wire.restart()  # a retried attempt starts the reply over
            reading = MessageEvents()
            async for event in self._events(resp, max_reply_chars):
                chunks = reading.feed(event)
                if wire is not None:
                    wire.events.append(sse(str(event.get("type")), event))
                    wire.message = reading.message
                for c in chunks:
                    yield c
            if not reading.stopped:
                raise Retryable(f"truncated: HTTP {resp.status_code} stream ended without message_stop")
        return read

    def _post(self, body: dict[str, Any], ctx: CallContext, hold: bool, wire: WireReply | None,
              headers: dict[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
        return attempts(self._client, self.spec, self.backoff_s, "/v1/messages", body, ctx, self._reader(wire),
                        reply_chars, hold, headers=headers, describe=describe)

    def stream(self, request: dict[str, Any], ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        return self._post(to_messages(request, self.spec, self.params), ctx, not request.get("stream"), None)

    def relay(self, body: dict[str, Any], ctx: CallContext, wire: WireReply) -> AsyncIterator[dict[str, Any]]:
        sent = {**body, "model": self.spec.model, "stream": True}
        for key in ("temperature", "max_tokens"):
            if getattr(self.spec, key) is not None:
                sent[key] = getattr(self.spec, key)
        return self._post(sent, ctx, not body.get("stream"), wire, ctx.headers or None)
