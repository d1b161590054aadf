"""Per-model rate limits: the limiter's arithmetic on a fake clock, and the limits holding at a fake
upstream behind the real gateway.

Through the gateway the assertions are upper bounds on how many calls reached the upstream in any
window, which a slow machine can only make easier to meet, and a lower bound on how long the calls
took to start, which it can only make longer: nothing depends on the machine being fast.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.openai import OpenAIBackend
from goaldrift.gateway.chunks import message_chunks, usage
from goaldrift.gateway.ratelimit import RateLimiter
from goaldrift.modelspec import ModelSpec, RateLimit

MSG = [{"role": "user", "content": "hello"}]


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def _one_call(limiter: RateLimiter, started: list[float], tokens: int, clock) -> float:
    queued: list[float] = []

    async def backend():
        started.append(clock())
        yield {"choices": [], "usage": {"prompt_tokens": tokens, "completion_tokens": 0}}

    async for _ in limiter.limited(backend(), queued.append):
        pass
    return queued[0]


def test_requests_per_minute_on_a_fake_clock():
    t = FakeTime()
    limiter = RateLimiter(RateLimit(requests_per_minute=120), clock=t.clock, sleep=t.sleep)  # 2/s, burst 2
    started: list[float] = []

    async def go():
        return await asyncio.gather(*(_one_call(limiter, started, 1, t.clock) for _ in range(10)))

    queued = asyncio.run(go())
    assert started == sorted(started)
    assert started[:2] == [0.0, 0.0]  # the burst
    for k, at in enumerate(started[2:], start=1):  # then one every half second
        assert at == pytest.approx(k * 0.5)
    assert queued[:2] == [0.0, 0.0] and queued[-1] >= 3.0  # the last waited (the fake clock moved meanwhile)


def test_tokens_per_minute_charges_each_call_when_it_ends():
    t = FakeTime()
    limiter = RateLimiter(RateLimit(tokens_per_minute=600), clock=t.clock, sleep=t.sleep)  # 10/s, burst 10
    started: list[float] = []

    async def go():
        for _ in range(3):
            await _one_call(limiter, started, 100, t.clock)

    asyncio.run(go())
    # 10 in the bucket, a call of 100 leaves a debt of 90 = 9 s; the next starts when it is paid
    assert started == [0.0, pytest.approx(9.0), pytest.approx(19.0)]


def test_max_concurrent_calls():
    limiter = RateLimiter(RateLimit(max_concurrent=3))
    in_flight, peak = 0, 0

    async def backend():
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.02)
        in_flight -= 1
        yield {"choices": []}

    async def call():
        async for _ in limiter.limited(backend(), lambda s: None):
            pass

    async def go():
        await asyncio.gather(*(call() for _ in range(12)))

    asyncio.run(go())
    assert peak == 3 and in_flight == 0


def _fake_upstream(arrivals: list[float], statuses: list[int]) -> httpx.MockTransport:
    """An OpenAI upstream that notes when each request arrived; answers ``statuses`` in turn, then 200."""

    def handler(request: httpx.Request) -> httpx.Response:
        arrivals.append(asyncio.get_running_loop().time())
        status = statuses.pop(0) if statuses else 200
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "slow down"}}, headers={"retry-after": "0"})
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in message_chunks("up", content="ok", usage_=usage(3, 2)))
        return httpx.Response(200, text=text + "data: [DONE]\n\n", headers={"content-type": "text/event-stream"})

    return httpx.MockTransport(handler)


def test_a_rate_limit_holds_at_the_upstream_across_routes(monkeypatch):
    """720 requests/min = 12 a second with a burst of 12: 6 every half second. 36 calls on 4 routes
    (4 runs of the same model) at once: no half-second window sees more than 12 + 6 arrive, and the
    last arrives at least 2 s after the first."""
    monkeypatch.setenv("GD_TEST_KEY", "k")
    spec = ModelSpec(id="up", backend="openai", base_url="https://example.invalid/v1", model="gpt-x",
                     api_key_env="GD_TEST_KEY", max_retries=3, rate_limit={"requests_per_minute": 720})
    arrivals: list[float] = []
    backend = OpenAIBackend(spec, transport=_fake_upstream(arrivals, [429]), backoff_s=0.001)
    calls = []

    async def go():
        async with Gateway(recorder=calls.append, rate_limits={spec.id: spec.rate_limit}) as gw:
            routes = [gw.open_route(backend) for _ in range(4)]
            async with httpx.AsyncClient(timeout=60) as c:
                return await asyncio.gather(*(
                    c.post(gw.url_for(routes[i % 4]) + "/chat/completions", json={"messages": MSG})
                    for i in range(36)))

    responses = asyncio.run(go())
    assert [r.status_code for r in responses] == [200] * 36
    assert len(arrivals) == 37  # one call's 429 was retried by the backend, inside its admission
    starts = sorted(arrivals)
    for i, at in enumerate(starts):
        in_window = sum(1 for other in starts[i:] if other < at + 0.5)
        assert in_window <= 12 + 6 + 1, f"{in_window} upstream requests within 0.5 s of t={at - starts[0]:.2f}"
    assert starts[-1] - starts[0] >= (36 - 12) / 12 - 0.05
    assert sum(1 for c in calls if c.retries == 1 and "HTTP 429" in c.retry_log[0]) == 1
    assert all(0 <= c.queued_s <= c.latency_s for c in calls)  # the wait is on the record, within the latency


def test_rate_limit_is_checked_and_is_not_part_of_the_run_id():
    base = {"id": "m", "backend": "scripted"}
    with pytest.raises(ValueError, match="requests_per_minute"):
        ModelSpec(**base, rate_limit={"requests_per_minute": 0})
    with pytest.raises(ValueError, match="rpm"):
        ModelSpec(**base, rate_limit={"rpm": 10})
    limited = ModelSpec(**base, rate_limit={"requests_per_minute": 10})
    assert limited.public() == ModelSpec(**base).public()  # adding a limit resumes, it does not restart
    assert limited.model_dump()["rate_limit"]["requests_per_minute"] == 10  # but it is recorded
    assert "rate_limit" not in ModelSpec(**base).model_dump()  # older experiments keep their hash
