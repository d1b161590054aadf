"""What the backends that call a provider over HTTP share: the key, the client, and the retry loop.

The ``openai`` and ``anthropic`` backends differ only in how a request is spelt and how the
provider's stream is read. Everything else is here, once: the key is read from the environment
variable the experiment names (and only ever sent upstream), and one call is a loop of attempts with
exponential backoff (and ``Retry-After``) on 429, 5xx, timeouts, connection errors and truncated
streams, every failed attempt logged on the call with its kind (``HTTP 429``, ``timeout``,
``connection``, ``truncated``). Retries happen before anything is passed on: for a client that did
not ask to stream, an attempt's items are held until its stream ended properly, so a truncated attempt
is retried (unless the reply outgrows the gateway's reply cap first: then it is passed on and cut off
there); for a streaming client they are passed on as they come, so a truncation after the first item
is an error (a retry would repeat what the client saw).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from goaldrift.errors import BackendError, MissingKey, UpstreamRejected
from goaldrift.gateway.backends.base import CallContext
from goaldrift.modelspec import ModelSpec

RETRY_STATUS = {408, 409, 429, 500, 502, 503, 504, 520, 522, 524, 529}
FATAL_STATUS = {401, 403, 404}  # key, base URL or model: the endpoint is unusable (counts for the breaker)

Reader = Callable[[httpx.Response, "int | None"], AsyncIterator[Any]]  # (response, reply cap) -> items


class Retryable(Exception):
    """An attempt that failed in a way another attempt may not (a truncated stream, an overloaded
    model); the message starts with its kind, as ``CallContext.retry`` wants."""


def api_key(spec: ModelSpec) -> str | None:
    """The key from the environment variable the model entry names (None when it names none)."""
    if not spec.api_key_env:
        return None
    key = os.environ.get(spec.api_key_env)
    if not key:
        raise MissingKey(f"model {spec.id!r}: environment variable {spec.api_key_env} is not set; "
                         f"export {spec.api_key_env}=<your key> and run again")
    return key


def client(spec: ModelSpec, base_url: str, headers: dict[str, str],
           transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, transport=transport,
                             timeout=httpx.Timeout(spec.timeout_s, connect=min(15.0, spec.timeout_s)))


async def head(resp: httpx.Response, limit: int = 65536) -> str:
    """The start of an error body: a hostile upstream's endless body is never read whole."""
    data = bytearray()
    async for part in resp.aiter_bytes():
        data += part
        if len(data) >= limit:
            break
    return data[:limit].decode("utf-8", errors="replace")


async def lines(resp: httpx.Response, max_chars: int) -> AsyncIterator[str]:
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


def line_cap(max_reply_chars: int | None) -> int:
    """The longest SSE line accepted: a reply's text JSON-escaped (≤ 6 characters each) plus a little."""
    return 6 * (max_reply_chars or 4_000_000) + 65536


async def backoff(base_s: float, attempt: int, retry_after: str | None) -> None:
    delay = base_s * (2**attempt) * (0.5 + random.random())
    if retry_after:
        try:
            delay = max(delay, float(retry_after))
        except ValueError:
            pass
    await asyncio.sleep(min(delay, 60.0))


async def attempts(http: httpx.AsyncClient, spec: ModelSpec, backoff_s: float, path: str, body: dict[str, Any],
                   ctx: CallContext, read: Reader, chars: Callable[[Any], int], hold: bool,
                   headers: dict[str, str] | None = None,
                   describe: Callable[[int, str], str] = lambda status, text: text) -> AsyncIterator[Any]:
    """POST ``body`` to ``path`` and yield what ``read`` makes of the reply, retrying as the module says.

    ``read(resp, max_reply_chars)`` yields items and raises ``Retryable`` for a stream that did not end
    properly; ``chars(item)`` is the reply text an item adds (for the reply cap while holding);
    ``hold``: the client does not stream, so items are held until the attempt ended properly.
    ``describe(status, body)`` turns an error body into the message's tail (a provider's own error shape).
    """
    last_error, retry_after = "", None
    for attempt in range(spec.max_retries + 1):
        if attempt:
            await backoff(backoff_s, attempt - 1, retry_after)
        retry_after, passed_on = None, 0
        try:
            async with http.stream("POST", path, json=body, headers=headers) as resp:
                if resp.status_code in RETRY_STATUS:
                    retry_after = resp.headers.get("retry-after")
                    last_error = f"HTTP {resp.status_code}: {describe(resp.status_code, await head(resp))[:300]}"
                    ctx.retry(last_error)
                    continue
                if resp.status_code >= 400:
                    text = describe(resp.status_code, await head(resp))[:500]
                    message = f"upstream {spec.base_url or http.base_url} answered HTTP {resp.status_code}: {text}"
                    raise (BackendError if resp.status_code in FATAL_STATUS else UpstreamRejected)(message)
                held: list[Any] = []
                holding, held_chars = hold, 0
                async for item in read(resp, ctx.max_reply_chars):
                    if holding:
                        held.append(item)
                        held_chars += chars(item)
                        if ctx.max_reply_chars is None or held_chars <= ctx.max_reply_chars:
                            continue
                        holding = False  # too big to buffer: pass it on, the gateway cuts it off
                    for it in held or [item]:
                        passed_on += 1
                        yield it
                    held = []
                for item in held:
                    yield item
                return
        except (Retryable, httpx.TimeoutException, httpx.TransportError) as exc:
            if isinstance(exc, Retryable):
                last_error = str(exc)
            else:
                kind = "timeout" if isinstance(exc, httpx.TimeoutException) else "connection"
                last_error = f"{kind}: {type(exc).__name__}: {exc}"
            if passed_on:  # the client has seen part of the answer: a retry would duplicate it
                raise BackendError(f"upstream stream broke mid-response: {last_error}") from None
            ctx.retry(last_error)
    raise BackendError(
        f"upstream {spec.base_url or http.base_url} failed after {spec.max_retries + 1} tries: {last_error}; "
        "check base_url, your network and the provider's status"
    )
