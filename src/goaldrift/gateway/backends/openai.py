"""Any OpenAI-compatible API: OpenAI, OpenRouter, vLLM, Ollama, a llama.cpp server.

The key is read here, from the environment variable the experiment names, and only sent upstream;
the agent talks to the gateway with its per-run token. Requests always stream upstream (with usage),
whatever the client asked, so one code path serves both modes. Retries with exponential backoff (and
``Retry-After``) on 429, 5xx, timeouts and connection errors happen before the first chunk is passed
on, and each is recorded on the call.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections.abc import AsyncIterator
from typing import Any

import httpx

from goaldrift.errors import BackendError, ConfigError, MissingKey
from goaldrift.gateway.backends.base import CallContext
from goaldrift.modelspec import ModelSpec

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}


class OpenAIBackend:
    name = "openai"

    def __init__(self, spec: ModelSpec, transport: httpx.AsyncBaseTransport | None = None,
                 backoff_s: float = 1.0):
        if not spec.base_url:
            raise ConfigError(f"model {spec.id!r}: backend 'openai' needs base_url (e.g. https://api.openai.com/v1)")
        if not spec.model:
            raise ConfigError(f"model {spec.id!r}: backend 'openai' needs model (the upstream model name)")
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
        self.backoff_s = backoff_s
        self._client = httpx.AsyncClient(
            base_url=spec.base_url.rstrip("/"), headers=headers, transport=transport,
            timeout=httpx.Timeout(spec.timeout_s, connect=15.0),
        )

    async def aclose(self) -> None:
        await self._client.aclose()

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

    async def stream(self, request: dict[str, Any], ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        body = self._upstream_body(request, ctx.route.seed)
        last_error = ""
        started = False
        for attempt in range(self.spec.max_retries + 1):
            try:
                async with self._client.stream("POST", "/chat/completions", json=body) as resp:
                    if resp.status_code in RETRY_STATUS:
                        await resp.aread()
                        last_error = f"HTTP {resp.status_code}: {resp.text[:300]}"
                        ctx.retry(last_error)
                        if attempt < self.spec.max_retries:
                            await self._wait(attempt, resp.headers.get("retry-after"))
                        continue
                    if resp.status_code >= 400:
                        await resp.aread()
                        raise BackendError(
                            f"upstream {self.spec.base_url} answered HTTP {resp.status_code}: {resp.text[:500]}"
                        )
                    async for line in resp.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            return
                        try:
                            chunk = json.loads(data)
                        except json.JSONDecodeError:
                            raise BackendError(f"upstream sent a malformed chunk: {data[:200]}") from None
                        if "error" in chunk:
                            raise BackendError(f"upstream error: {json.dumps(chunk['error'])[:500]}")
                        started = True
                        yield chunk
                    return
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                if started:  # the client has seen part of the answer: a retry would duplicate it
                    raise BackendError(f"upstream stream broke mid-response: {last_error}") from None
                ctx.retry(last_error)
                if attempt < self.spec.max_retries:
                    await self._wait(attempt, None)
        raise BackendError(
            f"upstream {self.spec.base_url} failed after {self.spec.max_retries + 1} tries: {last_error}; "
            "check base_url, your network and the provider's status"
        )
