"""Any OpenAI-compatible API: OpenAI, OpenRouter, vLLM, Ollama, a llama.cpp server.

The key is read here, from the environment variable the experiment names, and only sent upstream;
the agent talks to the gateway with its per-run token. Requests always stream upstream (with usage),
whatever the client asked, so one code path serves both modes.

Retries with exponential backoff (and ``Retry-After``) on 429, 5xx, timeouts, connection errors and
truncated streams happen before anything is passed on, and every failed attempt is logged on the
call with its kind (``HTTP 429``, ``timeout``, ``connection``, ``truncated``). A stream has ended
properly only with ``[DONE]``, or with both a finish reason and usage; anything else is
truncated. For a client that did not ask to stream, an attempt's chunks are held until the stream
ended properly, so a truncated attempt is retried (unless the reply outgrows the gateway's reply cap
first: then it is passed on and cut off there); for a streaming client they are passed on as they
come, so a truncation after the first chunk is an error (a retry would repeat what the client saw).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx

from goaldrift.errors import BackendError, MissingKey, UpstreamRejected
from goaldrift.gateway.backends.base import CallContext
from goaldrift.gateway.chunks import finish_reason, malformed, reply_chars
from goaldrift.gateway.probe import probe_openai
from goaldrift.modelspec import ModelSpec, OpenAIParams

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}


class _Truncated(Exception):
    pass


async def _head(resp: httpx.Response, limit: int = 65536) -> str:
    """The start of an error body: a hostile upstream's endless body is never read whole."""
    data = bytearray()
    async for part in resp.aiter_bytes():
        data += part
        if len(data) >= limit:
            break
    return data[:limit].decode("utf-8", errors="replace")


async def _lines(resp: httpx.Response, max_chars: int) -> AsyncIterator[str]:
    """The body's lines, refusing one longer than ``max_chars`` (a single endless SSE line)."""
    pending: list[str] = []
    size = 0
    async for text in resp.aiter_text():
        while (cut := text.find("\n")) >= 0:
            pending.append(text[:cut])
            yield "".join(pending).rstrip("\r")
            pending, size, text = [], 0, text[cut + 1 :]
        pending.append(text)
        size += len(text)
        if size > max_chars:
            raise BackendError(f"upstream sent a line longer than {max_chars} characters")
    if pending:
        yield "".join(pending)


class OpenAIBackend:
    name = "openai"

    def __init__(self, spec: ModelSpec, transport: httpx.AsyncBaseTransport | None = None,
                 backoff_s: float | None = None):
        assert spec.base_url and spec.model, "ModelSpec checks the openai entry at load"
        headers = {}
        if spec.api_key_env:
            key = os.environ.get(spec.api_key_env)
            if not key:
                raise MissingKey(
                    f"model {spec.id!r}: environment variable {spec.api_key_env} is not set; "
                    f"export {spec.api_key_env}=<your key> and run again"
                )
            headers["authorization"] = f"Bearer {key}"
        self.spec = spec
        self.model = spec.id
        self.params = OpenAIParams.model_validate(spec.params)
        self.backoff_s = self.params.retry_backoff_s if backoff_s is None else backoff_s
        self._client = httpx.AsyncClient(
            base_url=spec.base_url.rstrip("/"), headers=headers, transport=transport,
            timeout=httpx.Timeout(spec.timeout_s, connect=min(15.0, spec.timeout_s)),
        )

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

    async def _wait(self, attempt: int, retry_after: str | None) -> None:
        delay = self.backoff_s * (2**attempt) * (0.5 + random.random())
        if retry_after:
            try:
                delay = max(delay, float(retry_after))
            except ValueError:
                pass
        await asyncio.sleep(min(delay, 60.0))

    async def _chunks(self, resp: httpx.Response, max_reply_chars: int | None) -> AsyncIterator[dict[str, Any]]:
        """The upstream's chunks; raises ``_Truncated`` if the stream ends without a proper end."""
        finished = used = False
        count = 0
        # a chunk's line is its reply text JSON-escaped (at most 6 characters each) plus a little
        async for line in _lines(resp, 6 * (max_reply_chars or 4_000_000) + 65536):
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
            raise _Truncated(f"truncated: HTTP {resp.status_code} stream ended after {count} chunks "
                             "without [DONE]" + ("" if finished else " or a finish_reason"))

    async def stream(self, request: dict[str, Any], ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        body = self._upstream_body(request, ctx.route.seed)
        hold = not request.get("stream")  # nobody waits for the first chunk: keep the attempt retryable
        last_error, retry_after = "", None
        for attempt in range(self.spec.max_retries + 1):
            if attempt:
                await self._wait(attempt - 1, retry_after)
            retry_after, passed_on = None, 0
            try:
                async with self._client.stream("POST", "/chat/completions", json=body) as resp:
                    if resp.status_code in RETRY_STATUS:
                        retry_after = resp.headers.get("retry-after")
                        last_error = f"HTTP {resp.status_code}: {(await _head(resp))[:300]}"
                        ctx.retry(last_error)
                        continue
                    if resp.status_code >= 400:
                        text = (await _head(resp))[:500]
                        message = f"upstream {self.spec.base_url} answered HTTP {resp.status_code}: {text}"
                        if resp.status_code in (401, 403, 404):  # key, base URL or model: the endpoint is unusable
                            raise BackendError(message)
                        raise UpstreamRejected(message)
                    held: list[dict[str, Any]] = []
                    holding, held_chars = hold, 0
                    async for chunk in self._chunks(resp, ctx.max_reply_chars):
                        if holding:
                            held.append(chunk)
                            held_chars += reply_chars(chunk)
                            if ctx.max_reply_chars is None or held_chars <= ctx.max_reply_chars:
                                continue
                            holding = False  # too big to buffer: pass it on, the gateway cuts it off
                        for c in held or [chunk]:
                            passed_on += 1
                            yield c
                        held = []
                    for chunk in held:
                        yield chunk
                    return
            except (_Truncated, httpx.TimeoutException, httpx.TransportError) as exc:
                if isinstance(exc, _Truncated):
                    last_error = str(exc)
                else:
                    kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
                    last_error = f"{kind}: {type(exc).__name__}: {exc}"
                if passed_on:  # the client has seen part of the answer: a retry would duplicate it
                    raise BackendError(f"upstream stream broke mid-response: {last_error}") from None
                ctx.retry(last_error)
        raise BackendError(
            f"upstream {self.spec.base_url} failed after {self.spec.max_retries + 1} tries: {last_error}; "
            "check base_url, your network and the provider's status"
        )
