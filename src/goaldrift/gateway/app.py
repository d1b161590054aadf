"""The gateway: a model endpoint on 127.0.0.1 that records every call.

It speaks OpenAI chat completions (the backends' own form), Anthropic Messages and OpenAI Responses
(``protocols/``: each front-end translates its requests to chat completions and the replies back).
When the front-end and the route's backend speak the same protocol (Messages to the ``anthropic``
backend), nothing is translated: the body is relayed as sent and the provider's reply comes back as it
is, while the gateway still reads it as chat chunks for its record, budget and bounds.

Every harness talks to the gateway, never to a provider. Each run gets a route with its own random
token (``/r/<token>/v1`` or ``Authorization: Bearer <token>``); the route says which backend serves
it and which attempt and step a call belongs to. Real API keys stay inside the backends of this
process, so the agent under test — which runs commands chosen by a model reading adversarial
comments — can at most spend its own run's token, within its route's token budget.

The client is untrusted, so every call is bounded (``limits``: body size, JSON depth, forwarded
fields, reply size, connections) and every call that reached a route is recorded with the status the
client got — including refusals (413, 400, 402, 503) and clients that went away (499). A stream that
ends without a proper end is an error, never a made-up ``finish_reason``.

Besides 127.0.0.1 it listens on a unix socket in a private directory (``socket_path``): a sandboxed
harness has no network but that socket, bound into its sandbox and reached through the relay of
``goaldrift.sandbox`` — so an agent can reach its gateway and nothing else.
Per-model rate limits (``ratelimit.py``) hold a call back before its backend starts; every route of
a model shares its limiter, so the limits hold across all runs.

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
from starlette.routing import Route

from goaldrift.errors import BackendError, GoaldriftError, UpstreamRejected
from goaldrift.gateway.backends.base import Backend, CallContext, ModelRoute, TokenBudget, WireReply
from goaldrift.gateway.breaker import CircuitBreaker
from goaldrift.gateway.chunks import assemble, finish_reason, reply_chars
from goaldrift.gateway.connections import guarded_h11
from goaldrift.gateway.limits import RELAYED_HEADERS, GatewayLimits, deeper_than, forwarded, relayed
from goaldrift.gateway.protocols import CHAT, MESSAGES, RESPONSES, Exchange, FrontEnd, ProtocolError
from goaldrift.gateway.protocols.anthropic_messages import estimate_tokens
from goaldrift.gateway.protocols.base import Relay
from goaldrift.gateway.ratelimit import RateLimiter
from goaldrift.gateway.record import CallRecord, StepCalls
from goaldrift.modelspec import RateLimit

Recorder = Callable[[CallRecord], Any]


class _Refused(Exception):
    """A call the gateway answers itself with ``status`` (recorded like any other)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code = status, message, kind, code


class _ClientGone(Exception):
    """The client disconnected; the backend call was cancelled."""


async def _disconnected(request: Request) -> None:
    """Returns when the client hangs up (after the body was read, ``receive`` yields only that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(request: Request, work: Any) -> Any:
    """Await ``work``; if the client hangs up first, cancel it and raise ``_ClientGone``."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
    if task.cancelled():
        raise _ClientGone
    return task.result()


async def _read_body(request: Request, cap: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise _Refused(413, f"request body of {declared} bytes exceeds the gateway's limit of {cap} bytes")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > cap:
            raise _Refused(413, f"request body exceeds the gateway's limit of {cap} bytes")
    return bytes(body)


class _ReplyTooLarge(Exception):
    pass


class _Call:
    """One call on a route: what it asked, what came back so far, and its record."""

    def __init__(self, gateway: Gateway, front: FrontEnd, route: ModelRoute, backend: Backend):
        self.gateway, self.front, self.route, self.backend = gateway, front, route, backend
        self.step = route.step
        self.started = time.monotonic()
        self.ctx = CallContext(route, gateway.limits.max_reply_chars)
        self.request: dict[str, Any] | None = None  # as the backend's chat form (the wire body for chat)
        self.wire_request: dict[str, Any] | None = None  # the body as sent, when it had to be translated
        self.exchange: Exchange | None = None
        self.stream = False
        self.chunks: list[dict[str, Any]] = []
        self.chars = 0
        self.finished = False
        self.queued_s = 0.0  # time held back by the model's rate limit

    def add(self, chunk: dict[str, Any]) -> None:
        self.chunks.append(chunk)
        self.finished = self.finished or finish_reason(chunk) is not None
        self.chars += reply_chars(chunk)
        if self.chars > self.gateway.limits.max_reply_chars:
            raise _ReplyTooLarge(f"the model's reply exceeded {self.gateway.limits.max_reply_chars} "
                                 "characters; the gateway cut it off")

    def queued(self, seconds: float) -> None:
        self.queued_s = seconds

    def record(self, status: int, error: str | None) -> None:
        response = assemble(self.chunks) if self.chunks else None
        use = (response or {}).get("usage") or {}
        prompt, completion = (max(0, v) if isinstance(v, int) else 0
                              for v in (use.get("prompt_tokens"), use.get("completion_tokens")))
        self.route.spent[self.step] = self.route.spent.get(self.step, 0) + prompt + completion
        rec = CallRecord(
            attempt_id=self.route.attempt_id, step=self.step, backend=self.backend.name,
            model=self.backend.model, protocol=self.front.name, stream=self.stream, status=status,
            latency_s=time.monotonic() - self.started, queued_s=self.queued_s,
            prompt_tokens=prompt, completion_tokens=completion,
            retries=len(self.ctx.retry_log), retry_log=self.ctx.retry_log, error=error,
            request=self.request, wire_request=self.wire_request, response=response,
            wire_response=self.exchange.wire.message if isinstance(self.exchange, Relay) else None,
        )
        self.route.calls.setdefault(self.step, StepCalls()).add(rec)
        if self.gateway.recorder is not None:
            self.gateway.recorder(rec)


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handling: the runner owns Ctrl-C, not the embedded server."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


class Gateway:
    """The local model gateway. Use as ``async with Gateway(recorder) as gw``."""

    def __init__(self, recorder: Recorder | None = None, host: str = "127.0.0.1", port: int = 0,
                 limits: GatewayLimits | None = None, rate_limits: dict[str, RateLimit] | None = None):
        self.recorder = recorder
        self.rate_limiters = {model: RateLimiter(limit) for model, limit in (rate_limits or {}).items()}
        self.host = host
        self.port = port
        self.limits = limits or GatewayLimits()
        self.routes: dict[str, ModelRoute] = {}
        self._backends: dict[str, Backend] = {}
        self.breakers: dict[str, CircuitBreaker] = {}  # per model id
        self._server: _QuietServer | None = None
        self._task: asyncio.Task | None = None
        self._unix: tuple[_QuietServer, asyncio.Task] | None = None
        self.socket_path: Path | None = None
        self.app = Starlette(routes=[
            Route("/r/{token}/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            # -- protocol front-ends (gateway/protocols/): Anthropic Messages, OpenAI Responses --
            Route("/r/{token}/v1/messages", self._messages, methods=["POST"]),
            Route("/r/{token}/v1/messages/count_tokens", self._count_tokens, methods=["POST"]),
            Route("/r/{token}/v1/responses", self._responses, methods=["POST"]),
            Route("/r/{token}/v1/models", self._models, methods=["GET"]),
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/health", lambda r: JSONResponse({"ok": True}), methods=["GET"]),
        ])

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        lim = self.limits
        config = uvicorn.Config(self.app, host=self.host, port=self.port, log_level="warning",
                                lifespan="off", access_log=False, timeout_keep_alive=int(lim.keep_alive_s),
                                timeout_graceful_shutdown=2, h11_max_incomplete_event_size=lim.max_header_bytes,
                                http=guarded_h11(lim.max_connections, lim.header_timeout_s))
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

    def open_route(self, backend: Backend, *, attempt_id: int | None = None, seed: int | None = None,
                   context: Any = None, budget: TokenBudget | None = None) -> ModelRoute:
        """A new route with a fresh random token. ``context`` is handed to the backend untouched."""
        token = "gd-" + secrets.token_urlsafe(24)
        route = ModelRoute(token=token, model_id=backend.model, attempt_id=attempt_id, seed=seed,
                           context=context, budget=budget or TokenBudget())
        self.routes[token] = route
        self._backends[token] = backend
        self.breakers.setdefault(backend.model, CircuitBreaker(backend.model, self.limits.breaker_failures,
                                                               self.limits.breaker_cooldown_s))
        return route

    def check_circuit(self, route: ModelRoute) -> None:
        """Raise ``BackendError`` with the reason if the route's model is cut off by its breaker."""
        breaker = self.breakers.get(route.model_id)
        reason = breaker.refusal() if breaker else None
        if reason:
            raise BackendError(reason)

    def close_route(self, route: ModelRoute) -> None:
        self.routes.pop(route.token, None)
        self._backends.pop(route.token, None)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def url_for(self, route: ModelRoute) -> str:
        """The OpenAI base URL a harness should use for this route."""
        return f"{self.base_url}/r/{route.token}/v1"

    def _lookup(self, request: Request) -> tuple[ModelRoute, Backend] | None:
        """The route of the request's token (path, else bearer); never another route."""
        token = request.path_params.get("token")
        if token is None:
            auth = request.headers.get("authorization", "")
            token = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
        route = self.routes.get(token)
        return (route, self._backends[token]) if route else None

    async def _models(self, request: Request) -> Response:
        found = self._lookup(request)
        if not found:
            return CHAT.error(401, "unknown gateway token", "invalid_request_error")
        return JSONResponse({"object": "list", "data": [{"id": found[0].model_id, "object": "model",
                                                         "owned_by": "goaldrift"}]})

    # -- model calls, in any protocol ---------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        return await self._serve(request, CHAT)

    async def _messages(self, request: Request) -> Response:
        return await self._serve(request, MESSAGES)

    async def _responses(self, request: Request) -> Response:
        return await self._serve(request, RESPONSES)

    async def _count_tokens(self, request: Request) -> Response:
        """Anthropic's ``count_tokens``: an estimate (see ``estimate_tokens``), bounded like a call, not recorded."""
        if not self._lookup(request):
            return MESSAGES.error(401, "unknown gateway token: this run's route is closed or was never opened",
                                  "invalid_request_error")
        try:
            return JSONResponse({"input_tokens": estimate_tokens(await self._parse(request))})
        except _Refused as exc:
            return MESSAGES.error(exc.status, exc.message, exc.kind)
        except ProtocolError as exc:
            return MESSAGES.error(exc.status, exc.message, "invalid_request_error")
        except _ClientGone:
            return Response(status_code=499)

    async def _serve(self, request: Request, front: FrontEnd) -> Response:
        found = self._lookup(request)
        if not found:
            return front.error(401, "unknown gateway token: this run's route is closed or was never opened",
                               "invalid_request_error")
        call = _Call(self, front, *found)
        try:
            body = await self._parse(request)
            call.request, call.wire_request = (body, None) if front is CHAT else (None, body)
            try:
                call.exchange = front.exchange(body, call.route)
            except ProtocolError as exc:
                raise _Refused(exc.status, exc.message, code=exc.code) from None
            call.request, call.stream = call.exchange.internal, call.exchange.stream
            call.route.calls.setdefault(call.step, StepCalls()).seen(call.request)
            refusal = self.breakers[call.backend.model].refusal()
            if refusal:
                raise _Refused(503, refusal, "upstream_unavailable")
            over = call.route.over_budget()
            if over:  # 402, not 429: the budget does not come back, and clients retry a 429
                raise _Refused(402, f"token budget exhausted: {over}", "insufficient_quota")
        except _Refused as exc:
            call.record(exc.status, exc.message)
            return front.error(exc.status, exc.message, exc.kind, exc.code)
        except _ClientGone:
            call.record(499, "client disconnected while sending the request")
            return Response(status_code=499)
        if front is not CHAT and getattr(call.backend, "protocol", None) == front.name:
            # Same protocol front and back: the body goes upstream as sent and the provider's reply comes
            # back as it is. (Chat completions is the backends' own form: a chat call is never translated.)
            call.exchange = Relay(call.exchange, WireReply())
            call.ctx.headers = {h: request.headers[h] for h in RELAYED_HEADERS[front.name] if h in request.headers}
            iterator = call.backend.relay(relayed(front.name, body), call.ctx, call.exchange.wire)
        else:
            iterator = call.backend.stream(forwarded(call.exchange.internal), call.ctx)
        limiter = self.rate_limiters.get(call.backend.model)
        if limiter is not None:
            iterator = limiter.limited(iterator, call.queued)
        iterator = iterator.__aiter__()
        if call.stream:
            return await self._stream(request, call, iterator)
        return await self._complete(request, call, iterator)

    async def _parse(self, request: Request) -> dict[str, Any]:
        lim = self.limits
        try:
            raw = await asyncio.wait_for(_read_body(request, lim.max_body_bytes), lim.body_timeout_s)
        except TimeoutError:
            raise _Refused(408, f"request body not received within {lim.body_timeout_s:.0f} s") from None
        except ClientDisconnect:
            raise _ClientGone from None
        try:
            body = json.loads(raw)
        except RecursionError:
            raise _Refused(400, f"request body nests deeper than {lim.max_json_depth} levels") from None
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise _Refused(400, f"request body is not JSON: {exc}") from None
        if deeper_than(body, lim.max_json_depth):
            raise _Refused(400, f"request body nests deeper than {lim.max_json_depth} levels")
        if not isinstance(body, dict):
            raise _Refused(400, "request body must be a JSON object")
        return body

    def _backend_failed(self, call: _Call, status: int, error: str, endpoint: bool = True) -> JSONResponse:
        """Record a failed call; ``endpoint``: the failure says the endpoint is unwell (counts for the breaker)."""
        call.record(status, error)
        if endpoint:
            self.breakers[call.backend.model].failed(error)
        return call.front.error(status, error, "upstream_error" if status == 502 else "server_error")

    async def _first(self, call: _Call, iterator: AsyncIterator[dict[str, Any]]) -> None:
        """The first chunk: backends retry before yielding anything, so it decides the HTTP status."""
        call.add(await iterator.__anext__())

    async def _complete(self, request: Request, call: _Call, iterator: AsyncIterator[dict[str, Any]]) -> Response:
        async def collect() -> None:
            await self._first(call, iterator)
            async for c in iterator:
                call.add(c)

        try:
            await _unless_disconnected(request, collect())
        except asyncio.CancelledError:
            call.record(499, "the gateway stopped during the call")
            raise
        except _ClientGone:
            call.record(499, "client disconnected; the backend call was cancelled")
            return Response(status_code=499)
        except _ReplyTooLarge as exc:
            call.record(502, str(exc))
            return call.front.error(502, str(exc), "upstream_error")
        except StopAsyncIteration:
            return self._backend_failed(call, 502, "backend returned no output")
        except BackendError as exc:
            return self._backend_failed(call, 502, str(exc), not isinstance(exc, UpstreamRejected))
        except Exception as exc:  # a backend bug must not kill the gateway
            return self._backend_failed(call, 500, f"backend failed: {type(exc).__name__}: {exc}")
        finally:
            await iterator.aclose()
        if not call.finished:
            return self._backend_failed(call, 502, "the backend's stream ended without a finish_reason")
        call.record(200, None)
        self.breakers[call.backend.model].succeeded()
        assert call.exchange is not None
        return JSONResponse(call.exchange.reply(call.chunks))

    async def _stream(self, request: Request, call: _Call, iterator: AsyncIterator[dict[str, Any]]) -> Response:
        try:
            await _unless_disconnected(request, self._first(call, iterator))
        except asyncio.CancelledError:
            await iterator.aclose()
            call.record(499, "the gateway stopped during the call")
            raise
        except _ClientGone:
            await iterator.aclose()
            call.record(499, "client disconnected before the first chunk; the backend call was cancelled")
            return Response(status_code=499)
        except StopAsyncIteration:
            return self._backend_failed(call, 502, "backend returned no output")
        except BackendError as exc:
            await iterator.aclose()
            return self._backend_failed(call, 502, str(exc), not isinstance(exc, UpstreamRejected))
        except _ReplyTooLarge as exc:
            await iterator.aclose()
            call.record(502, str(exc))
            return call.front.error(502, str(exc), "upstream_error")
        except Exception as exc:  # a backend bug must not kill the gateway
            await iterator.aclose()
            return self._backend_failed(call, 500, f"backend failed: {type(exc).__name__}: {exc}")

        exchange = call.exchange
        assert exchange is not None

        async def sse() -> AsyncIterator[bytes]:
            # The status line (200) is out; a later failure is sent as an error event, recorded as 502.
            status, error, endpoint_failed = 200, None, False
            try:
                for c in call.chunks[:1]:
                    for event in exchange.events(c):
                        yield event
                async for c in iterator:
                    call.add(c)
                    for event in exchange.events(c):
                        yield event
                if not call.finished:
                    raise BackendError("the backend's stream ended without a finish_reason")
                for event in exchange.end(call.chunks):
                    yield event
            except asyncio.CancelledError:  # Starlette cancels the response when the client hangs up
                status, error = 499, "client disconnected mid-stream; the backend call was cancelled"
                raise
            except _ReplyTooLarge as exc:
                status, error = 502, str(exc)
                yield exchange.failure(error)
            except Exception as exc:
                status, endpoint_failed = 502, not isinstance(exc, UpstreamRejected)
                error = str(exc) if isinstance(exc, BackendError) else f"backend failed: {type(exc).__name__}: {exc}"
                yield exchange.failure(error)
            finally:
                await iterator.aclose()
                call.record(status, error)
                if status == 200:
                    self.breakers[call.backend.model].succeeded()
                elif endpoint_failed:
                    self.breakers[call.backend.model].failed(error or "")

        return StreamingResponse(sse(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})
