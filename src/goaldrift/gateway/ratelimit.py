"""Per-model rate limits, applied by the gateway to every call of a model, whichever run makes it.

Providers limit requests and tokens per minute and answer 429 beyond them; the openai backend backs
off and retries a 429, but with dozens of runs at once most calls would be spent on 429s. So the
gateway keeps each model under its limits itself (``ModelSpec.rate_limit``): the runs of an
experiment share one gateway, and so one ``RateLimiter`` per model.

- ``max_concurrent``: a semaphore, held for the whole call (upstream retries included).
- ``requests_per_minute``: a token bucket refilled at rpm/60 per second holding at most one second's
  worth (at least 1), so any minute sees at most rpm + that burst calls start.
- ``tokens_per_minute``: a token bucket refilled at tpm/60 per second. A call's tokens are known only
  when it ends, so they are charged then and the bucket may go into debt; a call starts only while
  the bucket is not in debt. Over a minute, spending stays within tpm plus what the calls in flight
  spend (bounded by ``max_concurrent`` when set).

Waiting calls are admitted in arrival order (one queue per model). The time a call waited is
recorded as its ``queued_s`` (part of its ``latency_s``); a client that hangs up while queued
cancels the wait like any other backend call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any

from goaldrift.modelspec import RateLimit

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


class TokenBucket:
    """``per_s`` tokens a second up to ``capacity``; the level may go below zero (debt)."""

    def __init__(self, per_s: float, capacity: float, clock: Clock):
        self.per_s, self.capacity, self.clock = per_s, capacity, clock
        self.level = capacity
        self.at = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.level = min(self.capacity, self.level + (now - self.at) * self.per_s)
        self.at = now

    def delay(self, need: float) -> float:
        """Seconds until the level reaches ``need`` (0 if it has)."""
        self._refill()
        return max(0.0, (need - self.level) / self.per_s)

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount


class RateLimiter:
    """One model's limits. ``clock`` and ``sleep`` are injectable so tests need not wait."""

    def __init__(self, limit: RateLimit, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep):
        self.clock, self.sleep = clock, sleep
        rpm, tpm = limit.requests_per_minute, limit.tokens_per_minute
        self.requests = TokenBucket(rpm / 60, max(1.0, rpm / 60), clock) if rpm else None
        self.tokens = TokenBucket(tpm / 60, max(1.0, tpm / 60), clock) if tpm else None
        self.slots = asyncio.Semaphore(limit.max_concurrent) if limit.max_concurrent else None
        self.queue = asyncio.Lock()  # FIFO: asyncio.Lock wakes its waiters in arrival order

    async def _admit(self) -> None:
        async with self.queue:
            while True:
                wait = max(self.requests.delay(1) if self.requests else 0.0,
                           self.tokens.delay(0) if self.tokens else 0.0)
                if wait <= 0:
                    break
                await self.sleep(wait)
            if self.requests:
                self.requests.take(1)

    async def limited(self, chunks: AsyncGenerator[dict[str, Any], None],
                      queued: Callable[[float], None]) -> AsyncIterator[dict[str, Any]]:
        """``chunks`` (a backend's stream), started once the limits allow; ``queued(seconds)`` is told
        how long that took. The concurrency slot is held, and tokens are charged, until it ends."""
        started = self.clock()
        if self.slots is not None:
            await self.slots.acquire()
        spent = 0
        try:
            await self._admit()
            queued(self.clock() - started)
            async for chunk in chunks:
                use = chunk.get("usage")
                if isinstance(use, dict):  # the last chunk: the call's usage
                    spent = sum(v for k in ("prompt_tokens", "completion_tokens")
                                if isinstance(v := use.get(k), int) and v > 0)
                yield chunk
        finally:
            if self.slots is not None:
                self.slots.release()
            if self.tokens is not None:
                self.tokens.take(spent)
            await chunks.aclose()
