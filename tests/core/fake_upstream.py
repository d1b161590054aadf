"""A fake model provider (a Starlette app) served on a free 127.0.0.1 port for the length of a block,
in the test's own event loop, so the gateway talks to it over real HTTP. One helper for every fake
upstream, so they all start, report a failed start and shut down the same way."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import uvicorn
from starlette.types import ASGIApp


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # type: ignore[override]  # the test runner keeps its signals
        yield


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, what: str = "the fake upstream") -> AsyncIterator[str]:
    """Serve ``app`` until the block ends; yields its base URL ``http://127.0.0.1:PORT``."""
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off",
                                    timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), f"{what} did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
