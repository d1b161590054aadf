"""Latency budget and in-process metrics.

Every route is timed by the router. Samples are kept per route (bounded) so that ``/internal/metrics``
can report p50/p99, and so that tests can assert that a route stays inside ``budget_ms``.
Spans (``latency.span("auth.step_up")``) time sub-steps such as calls to other services.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager

from payhive import config

_MAX_SAMPLES = 2048
_samples: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=_MAX_SAMPLES))


def budget_ms() -> float:
    return float(config.get("latency", "budget_ms"))


def record(name: str, elapsed_ms: float) -> None:
    _samples[name].append(elapsed_ms)


@contextmanager
def timed(name: str) -> Iterator[None]:
    """Time a whole route dispatch."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record(name, (time.perf_counter() - start) * 1000.0)


@contextmanager
def span(name: str) -> Iterator[None]:
    """Time a sub-step of a request (an outbound call, a slow query)."""
    start = time.perf_counter()
    try:
        yield
    finally:
        record(f"span:{name}", (time.perf_counter() - start) * 1000.0)


def percentile(name: str, q: float) -> float | None:
    values = sorted(_samples.get(name, ()))
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(q / 100.0 * (len(values) - 1))))
    return values[index]


def snapshot() -> dict[str, dict[str, float | int | None]]:
    """Per series: sample count, p50, p99 and whether p99 is over budget."""
    out = {}
    budget = budget_ms()
    for name in sorted(_samples):
        p99 = percentile(name, 99)
        out[name] = {
            "count": len(_samples[name]),
            "p50_ms": percentile(name, 50),
            "p99_ms": p99,
            "over_budget": bool(p99 is not None and not name.startswith("span:") and p99 > budget),
        }
    return out


def reset() -> None:
    _samples.clear()
