"""The gateway: an OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1 that records every call.

Every harness talks to the gateway, never to a provider. Each run gets a route with its own random
token (``/r/<token>/v1`` or ``Authorization: Bearer <token>``); the route says which backend serves
it and which attempt and step a call belongs to. Real API keys stay inside the backends of this
process, so the agent under test — which runs commands chosen by a model reading adversarial
comments — can at most spend its own run's token.

Besides 127.0.0.1 it listens on a unix socket in a private directory (``socket_path``): a sandboxed
harness has no network but that socket, bound into its sandbox and reached through the relay of
``goaldrift.sandbox`` — so an agent can reach its gateway and nothing else.

The server runs inside the runner's event loop (uvicorn without its signal handlers), so routes and
the recorder are plain Python objects shared without locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route as HttpRoute

from goaldrift.errors import BackendError, GoaldriftError
from goaldrift.gateway.backends.base import Backend, CallContext, Route
from goaldrift.gateway.chunks import assemble
from goaldrift.store import CallRecord

Recorder = Callable[[CallRecord], Any]


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def _sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handling: the runner owns Ctrl-C, not the embedded server."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


class Gateway:
    """The local model gateway. Use as ``async with Gateway(recorder) as gw``."""

    def __init__(self, recorder: Recorder | None = None, host: str = "127.0.0.1", port: int = 0):
        self.recorder = recorder
        self.host = host
        self.port = port
        self.routes: dict[str, Route] = {}
        self._backends: dict[str, Backend] = {}
        self._server: _QuietServer | None = None
        self._task: asyncio.Task | None = None
        self._unix: tuple[_QuietServer, asyncio.Task] | None = None
        self.socket_path: Path | None = None
        self.app = Starlette(routes=[
            HttpRoute("/r/{token}/v1/chat/completions", self._chat, methods=["POST"]),
            HttpRoute("/v1/chat/completions", self._chat, methods=["POST"]),
            HttpRoute("/r/{token}/v1/models", self._models, methods=["GET"]),
            HttpRoute("/v1/models", self._models, methods=["GET"]),
            HttpRoute("/health", lambda r: JSONResponse({"ok": True}), methods=["GET"]),
        ])

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                lifespan="off", access_log=False, timeout_keep_alive=120,
                                timeout_graceful_shutdown=2)
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve())
        deadline = time.monotonic() + 15
        while not self._server.started:
            if self._task.done():
                exc = self._task.exception()
                raise GoaldriftError(f"the model gateway could not start on {self.host}: {exc}")
            if time.monotonic() > deadline:
                raise GoaldriftError("the model gateway did not start within 15 s")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        await self._start_unix()

    async def _start_unix(self) -> None:
        """The same app on a unix socket in a fresh 0700 directory (the sandboxes' only way out)."""
        path = Path(tempfile.mkdtemp(prefix="gd-gateway-")) / "gateway.sock"
        server = _QuietServer(uvicorn.Config(self.app, uds=str(path), log_level="warning", lifespan="off",
                                             access_log=False, timeout_keep_alive=120,
                                             timeout_graceful_shutdown=2))
        task = asyncio.create_task(server.serve())
        self._unix = (server, task)
        while not server.started:
            if task.done():
                raise GoaldriftError(f"the model gateway could not listen on {path}: {task.exception()}")
            await asyncio.sleep(0.01)
        self.socket_path = path

    async def stop(self) -> None:
        if self._unix is not None:
            server, task = self._unix
            server.should_exit = True
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
            self._unix = None
        if self.socket_path is not None:
            shutil.rmtree(self.socket_path.parent, ignore_errors=True)
            self.socket_path = None
        if self._server is not None:
            self._server.should_exit = True
            if self._task is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(self._task, 10)
            self._server = None
        for backend in set(self._backends.values()):
            with contextlib.suppress(Exception):
                await backend.aclose()
        self._backends.clear()

    async def __aenter__(self) -> Gateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- routes -------------------------------------------------------------------------------

    def open_route(self, backend: Backend, **fields: Any) -> Route:
        """A new route with a fresh random token; ``fields`` fill ``Route`` (attempt_id, scenario...)."""
        token = "gd-" + secrets.token_urlsafe(24)
        route = Route(token=token, model_id=backend.model, **fields)
        self.routes[token] = route
        self._backends[token] = backend
        return route

    def close_route(self, route: Route) -> None:
        self.routes.pop(route.token, None)
        self._backends.pop(route.token, None)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, route: Route) -> str:
        """The OpenAI base URL a harness should use for this route."""
        return f"{self.base_url}/r/{route.token}/v1"

    def _lookup(self, request: Request) -> tuple[Route, Backend] | None:
        token = request.path_params.get("token")
        if token is None:
            auth = request.headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        route = self.routes.get(token)
        return (route, self._backends[token]) if route else None

    async def _models(self, request: Request) -> Response:
        found = self._lookup(request)
        if not found:
            return _error(401, "unknown gateway token", "invalid_request_error")
        return JSONResponse({"object": "list", "data": [{"id": found[0].model_id, "object": "model",
                                                         "owned_by": "goaldrift"}]})

    # -- chat completions ---------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        found = self._lookup(request)
        if not found:
            return _error(401, "unknown gateway token: this run's route is closed or was never opened",
                          "invalid_request_error")
        route, backend = found
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ClientDisconnect):
            return _error(400, "request body is not JSON", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' must be a list", "invalid_request_error")

        ctx = CallContext(route)
        step = route.step
        started = time.monotonic()
        stream = bool(body.get("stream"))
        want_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks: list[dict[str, Any]] = []
        iterator = backend.stream(body, ctx).__aiter__()

        def record(status: int, error: str | None) -> None:
            response = assemble(chunks) if chunks else None
            use = (response or {}).get("usage") or {}
            if self.recorder is None:
                return
            self.recorder(CallRecord(
                attempt_id=route.attempt_id, step=step, backend=backend.name, model=backend.model,
                stream=stream, status=status, latency_s=time.monotonic() - started,
                prompt_tokens=int(use.get("prompt_tokens") or 0),
                completion_tokens=int(use.get("completion_tokens") or 0),
                retries=len(ctx.retry_log), retry_log=ctx.retry_log, error=error, request=body,
                response=response,
            ))

        # The first chunk decides the HTTP status: backends retry before yielding anything. While we
        # wait for it, a client that hangs up (an agent aborting a hung call) cancels the backend call.
        first_task = asyncio.ensure_future(iterator.__anext__())
        try:
            while not first_task.done():
                await asyncio.wait({first_task}, timeout=0.25)
                if not first_task.done() and await request.is_disconnected():
                    first_task.cancel()
                    with contextlib.suppress(BaseException):
                        await first_task
                    record(499, "client disconnected before the first chunk")
                    return Response(status_code=499)
            first = first_task.result()
        except asyncio.CancelledError:
            first_task.cancel()
            record(499, "gateway stopped before the first chunk")
            raise
        except StopAsyncIteration:
            record(502, "backend returned no output")
            return _error(502, "backend returned no output", "upstream_error")
        except BackendError as exc:
            record(502, str(exc))
            return _error(502, str(exc), "upstream_error")
        except Exception as exc:  # a backend bug must not kill the gateway
            record(500, f"{type(exc).__name__}: {exc}")
            return _error(500, f"backend failed: {type(exc).__name__}: {exc}", "server_error")
        chunks.append(first)

        if not stream:
            try:
                async for c in iterator:
                    chunks.append(c)
            except Exception as exc:
                record(502, str(exc))
                return _error(502, str(exc), "upstream_error")
            record(200, None)
            return JSONResponse(assemble(chunks))

        async def sse() -> AsyncIterator[bytes]:
            status, error = 200, None
            try:
                for c in (first,):
                    if want_usage or c.get("choices"):
                        yield _sse(c)
                async for c in iterator:
                    chunks.append(c)
                    if want_usage or c.get("choices"):
                        yield _sse(c)
                yield _sse("[DONE]")
            except asyncio.CancelledError:
                status, error = 499, "client disconnected"
                raise
            except Exception as exc:
                status, error = 502, f"{type(exc).__name__}: {exc}"
                yield _sse({"error": {"message": error, "type": "upstream_error"}})
            finally:
                record(status, error)

        return StreamingResponse(sse(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
