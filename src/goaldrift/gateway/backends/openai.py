"""Any OpenAI-compatible API: OpenAI, OpenRouter, vLLM, Ollama, a llama.cpp server.

The key is read from the environment variable the experiment names, and only sent upstream; the
agent talks to the gateway with its per-run token. Requests always stream upstream (with usage),
whatever the client asked, so one code path serves both modes; retries and backoff are
``upstream.attempts``'s. A stream has ended properly only with ``[DONE]``, or with both a finish
reason and usage; anything else is truncated (and retried while nothing was passed on).

Its protocol is chat completions, the gateway's internal form: a chat client's request reaches it as
sent (the allow-listed fields of ``limits.FORWARDED_FIELDS``), and its chunks reach the client as the
provider sent them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from goaldrift.errors import BackendError
from goaldrift.gateway.backends.base import CallContext
from goaldrift.gateway.backends.upstream import Retryable, api_key, attempts, client, line_cap, lines
from goaldrift.gateway.chunks import finish_reason, malformed, reply_chars
from goaldrift.gateway.probe import probe_openai
from goaldrift.modelspec import ModelSpec, OpenAIParams


class OpenAIBackend:
    name = "openai"

    def __init__(self, spec: ModelSpec, transport: httpx.AsyncBaseTransport | None = None,
                 backoff_s: float | None = None):
        assert spec.base_url and spec.model, "ModelSpec checks the openai entry at load"
        key = api_key(spec)
        self.spec = spec
        self.model = spec.id
        self.params = OpenAIParams.model_validate(spec.params)
        self.backoff_s = self.params.retry_backoff_s if backoff_s is None else backoff_s
        self._client = client(spec, spec.base_url, {"authorization": f"Bearer {key}"} if key else {}, transport)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def probe(self) -> None:
        """Check, before any run, that the endpoint answers and serves the model (``EndpointError``)."""
        await probe_openai(self.spec, self._client)

    def _upstream_body(self, request: dict[str, Any], route_seed: int | None = None) -> dict[str, Any]:
        body = dict(request)
        body["model"] = self.spec.model
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        for key in ("temperature", "max_tokens"):
            if getattr(self.spec, key) is not None:
                body[key] = getattr(self.spec, key)
        if self.spec.seed is not None:  # only when asked for: not every provider accepts a seed
            body["seed"] = route_seed if route_seed is not None else self.spec.seed
        return body

    async def _chunks(self, resp: httpx.Response, max_reply_chars: int | None) -> AsyncIterator[dict[str, Any]]:
        """The upstream's chunks; raises ``Retryable`` if the stream ends without a proper end."""
        finished = used = False
        count = 0
        async for line in lines(resp, line_cap(max_reply_chars)):
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
            except (json.JSONDecodeError, RecursionError):
                raise BackendError(f"upstream sent a malformed chunk: {data[:200]}") from None
            if isinstance(chunk, dict) and "error" in chunk:
                raise BackendError(f"upstream error: {json.dumps(chunk['error'])[:500]}")
            problem = malformed(chunk)
            if problem:
                raise BackendError(f"upstream sent a malformed chunk ({problem}): {data[:200]}")
            finished = finished or finish_reason(chunk) is not None
            used = used or bool(chunk.get("usage"))
            count += 1
            yield chunk
        if not (finished and used):
            raise Retryable(f"truncated: HTTP {resp.status_code} stream ended after {count} chunks "
                             "without [DONE]" + ("" if finished else " or a finish_reason"))

    def stream(self, request: dict[str, Any], ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        return attempts(self._client, self.spec, self.backoff_s, "/chat/completions",
                        self._upstream_body(request, ctx.route.seed), ctx, self._chunks, reply_chars,
                        hold=not request.get("stream"))
