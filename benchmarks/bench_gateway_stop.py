"""How long the gateway takes to stop after a client hung up on a call it was still serving.

    .venv/bin/python benchmarks/bench_gateway_stop.py [--runs 10]

``tests/core/test_gateway.py`` asserts what is guaranteed (the hung backend call is cancelled and
recorded as 499, and stop does not wait for it); how fast stop is was an assertion there (< 3 s) and
is measured here instead, against the baseline of the same run: stopping a gateway that served one
ordinary call. Prints the medians (wall and CPU) and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.scripted import ScriptedBackend
from goaldrift.modelspec import ModelSpec

MSG = [{"role": "user", "content": "hi"}]


class Hung:
    """A backend whose call ends only by cancellation."""

    name, model = "hung", "hung"

    async def aclose(self) -> None:
        return None

    async def stream(self, request, ctx):
        await asyncio.sleep(3600)
        yield {}


async def stop_after(hang_up: bool) -> tuple[float, float]:
    """(wall, CPU) seconds of the gateway's stop after one call: hung up on, or served normally."""
    calls: list = []
    gw = Gateway(recorder=calls.append)
    await gw.__aenter__()
    try:
        backend = Hung() if hang_up else ScriptedBackend(ModelSpec(id="s", backend="scripted", policy="comply"))
        route = gw.open_route(backend)
        async with httpx.AsyncClient(timeout=0.5 if hang_up else 30) as c:
            try:
                await c.post(gw.url_for(route) + "/chat/completions", json={"messages": MSG, "stream": True})
            except httpx.ReadTimeout:
                pass
        for _ in range(1200):
            if calls:
                break
            await asyncio.sleep(0.05)
    finally:
        wall, cpu = time.perf_counter(), time.process_time()
        await gw.__aexit__(None, None, None)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    rows = {}
    for label, hang_up in (("baseline: after a served call", False), ("after a client hung up", True)):
        got = [asyncio.run(stop_after(hang_up)) for _ in range(runs)]
        rows[label] = (statistics.median(w for w, _ in got), statistics.median(c for _, c in got))
    base = rows["baseline: after a served call"][0]
    print(f"| gateway stop ({runs} runs) | median wall ms | median CPU ms | wall / baseline |")
    print("|---|---|---|---|")
    for label, (wall, cpu) in rows.items():
        print(f"| {label} | {wall * 1000:.1f} | {cpu * 1000:.1f} | {wall / base:.2f} |")


if __name__ == "__main__":
    main()
