"""Probe every model endpoint of an experiment before any run starts.

An unreachable endpoint used to surface as an error in every step, each after ~35 s of retries. The
probe asks each ``openai`` endpoint for its model list (``GET /models``), each ``anthropic`` endpoint
for its model (``GET /v1/models/<model>``), with a short timeout and no retries, and turns what went
wrong into one sentence naming the URL: DNS, connection refused, TLS, timeout, a rejected key
(401/403), a wrong base URL or model (404). If the list does not name the
model (or there is no list), one 1-token chat request settles whether the model is served. A busy
endpoint (408, 409, 429, 5xx) passes: the retries of the run deal with that. Scripted and local models
need no probe.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable

import httpx

from goaldrift.errors import EndpointError
from goaldrift.modelspec import ModelSpec

PROBE_TIMEOUT_S = 10.0
BUSY = {408, 409, 429}


def reason(exc: httpx.HTTPError) -> str:
    """What a transport error means, from the exceptions it was raised from."""
    chain: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and len(chain) < 10:
        chain.append(cur)
        cur = cur.__cause__ or cur.__context__
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {PROBE_TIMEOUT_S:.0f} s ({type(exc).__name__})"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return f"the host name does not resolve (DNS): {chain[-1]}"
    if any(isinstance(e, ssl.SSLError) for e in chain):
        return f"TLS failed: {chain[-1]}"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused: nothing listens there"
    return f"{type(exc).__name__}: {chain[-1]}"


async def probe_openai(spec: ModelSpec, client: httpx.AsyncClient) -> None:
    """Raise ``EndpointError`` naming the URL and the reason if the endpoint cannot serve ``spec``.

    ``client`` carries the base URL and the key (the backend's own client)."""

    def fail(path: str, why: str) -> EndpointError:
        url = str(client.base_url).rstrip("/") + path
        return EndpointError(f"model {spec.id!r}: {url}: {why}. Fix models[].base_url, "
                             "model or api_key_env in the experiment (nothing was run or written)")

    def check(path: str, resp: httpx.Response) -> None:
        if resp.status_code in (401, 403):
            raise fail(path, f"HTTP {resp.status_code}: the endpoint rejected the key "
                             f"({spec.api_key_env or 'no api_key_env set'})")

    try:
        resp = await client.get("/models", timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise fail("/models", reason(exc)) from None
    check("/models", resp)
    if resp.status_code == 200:
        try:
            ids = {m.get("id") for m in resp.json().get("data") or [] if isinstance(m, dict)}
        except (ValueError, AttributeError, TypeError):
            ids = set()
        if spec.model in ids:
            return
    body = {"model": spec.model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1}
    try:
        resp = await client.post("/chat/completions", json=body, timeout=PROBE_TIMEOUT_S)
    except httpx.HTTPError as exc:
        raise fail("/chat/completions", reason(exc)) from None
    check("/chat/completions", resp)
    if resp.status_code == 404:
        raise fail("/chat/completions", f"HTTP 404: model {spec.model!r} is not served here (or this "
                                        f"base_url has no chat completions): {resp.text[:200]}")
    if 400 <= resp.status_code < 500 and resp.status_code not in BUSY:
        raise fail("/chat/completions", f"HTTP {resp.status_code}: {resp.text[:300]}")


async def probe_models(specs: Iterable[ModelSpec]) -> None:
    """Check keys and probe every ``openai`` and ``anthropic`` model at once; the first failure in
    experiment order is raised."""
    from goaldrift.gateway.backends.anthropic import AnthropicBackend
    from goaldrift.gateway.backends.openai import OpenAIBackend

    kinds = {"openai": OpenAIBackend, "anthropic": AnthropicBackend}
    backends = [kinds[s.backend](s) for s in specs if s.backend in kinds]  # a missing key raises here
    try:
        results = await asyncio.gather(*(b.probe() for b in backends), return_exceptions=True)
    finally:
        for b in backends:
            await b.aclose()
    for result in results:
        if isinstance(result, BaseException):
            raise result
