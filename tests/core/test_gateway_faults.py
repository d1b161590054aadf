"""Upstream faults, recorded truthfully; fail fast on dead endpoints (probe, circuit breaker).

A fake OpenAI-compatible upstream on 127.0.0.1 answers chat requests in a fixed cycle — 429, 500,
hang, truncated stream, success: 20% each — and a small experiment (builtin harness, openai backend)
runs against it. Every run must complete, every failed attempt must be in the record with its kind,
and usage must be counted once. The assertions hold however slow the machine: a response the
gateway gave up waiting for is a recorded timeout, which is what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import ssl
from collections import Counter
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tests.conftest import run_cli
from tests.core.fake_upstream import serving

from goaldrift.errors import BackendError, EndpointError
from goaldrift.experiment import experiment_from_dict
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.openai import OpenAIBackend
from goaldrift.gateway.breaker import CircuitBreaker
from goaldrift.gateway.chunks import message_chunks, usage
from goaldrift.gateway.limits import GatewayLimits
from goaldrift.gateway.probe import probe_openai
from goaldrift.modelspec import ModelSpec
from goaldrift.runner import run_experiment
from goaldrift.store import unblob

MSG = [{"role": "user", "content": "hello"}]
KIND = {"429": "HTTP 429", "500": "HTTP 500", "hang": "timeout", "truncated": "truncated"}


class FakeUpstream:
    """An OpenAI-compatible server on 127.0.0.1. ``cycle`` says how each chat request is answered, in turn.

    A successful reply to request ``n`` says ``Done (n).`` and reports ``1000 + n`` prompt tokens, so
    every recorded reply can be traced to exactly one served request. A hang lasts until the server
    stops (or 60 s)."""

    def __init__(self, cycle: tuple[str, ...]):
        self.cycle = cycle
        self.served: list[str] = []
        self.release = asyncio.Event()
        self.app = Starlette(routes=[Route("/v1/models", self.models), Route("/v1/chat/completions", self.chat,
                                                                              methods=["POST"])])

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

    async def chat(self, request: Request) -> Response:
        await request.body()
        n = len(self.served)
        kind = self.cycle[n % len(self.cycle)]
        self.served.append(kind)
        if kind in ("429", "500"):
            return JSONResponse({"error": {"message": f"fault {kind}"}}, status_code=int(kind),
                                headers={"retry-after": "0"})
        if kind == "hang":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), 60)
            return JSONResponse({"error": {"message": "released"}}, status_code=503)
        chunks = list(message_chunks("fake-model", content=f"Done ({n}).", usage_=usage(1000 + n, n + 1)))
        if kind == "truncated":  # a role chunk and some content, then the body just ends
            chunks = chunks[:2]
        lines = [f"data: {json.dumps(c)}\n\n" for c in chunks] + (["data: [DONE]\n\n"] if kind == "ok" else [])

        async def body():
            for line in lines:
                yield line.encode()

        return StreamingResponse(body(), media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def running(self):
        async with serving(self.app, "the fake upstream") as url:
            try:
                yield url + "/v1"
            finally:
                self.release.set()  # a hanging request ends, so the server can stop


def experiment(base_url: str, mini_pack: Path, **model) -> dict:
    return {"name": "faults", "scenarios": [str(mini_pack)], "conditions": ["privacy", "utility->privacy"],
            "steps": 2, "concurrency": 1, "agent": {"harness": "builtin", "limits": {"wall_time_s": 120}},
            "completion": False,  # `run` in a subprocess: conftest's switch does not reach it
            "models": [{"id": "fake", "backend": "openai", "base_url": base_url, "model": "fake-model",
                        "timeout_s": 3, "max_retries": 4, "params": {"retry_backoff_s": 0.01}, **model}]}


def call_rows(store: Path) -> list[dict]:
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM model_calls ORDER BY call_id")]
    db.close()
    return rows


def test_every_run_completes_through_429_500_hangs_and_truncated_streams(mini_pack, tmp_path):
    fake = FakeUpstream(("429", "500", "hang", "truncated", "ok"))
    store = tmp_path / "store.db"

    async def go():
        async with fake.running() as url:
            raw = experiment(url, mini_pack)
            return await asyncio.to_thread(run_experiment, experiment_from_dict(raw), store, progress=False)

    summary = asyncio.run(go())
    assert summary.failed == 0 and summary.finished == 2, summary.errors
    calls = call_rows(store)
    assert calls and {c["status"] for c in calls} <= {200, 502}
    logs = [entry for c in calls for entry in json.loads(c["retry_log"] or "[]")]
    assert sum(c["retries"] for c in calls) == len(logs)
    # each attempt the upstream served is in the record exactly once: failed ones in a retry log,
    # the successful one as the call itself
    ok = [c for c in calls if c["status"] == 200]
    assert len(logs) + len(ok) == len(fake.served)
    kinds = Counter(entry.split(":")[0] for entry in logs)
    served = Counter(fake.served)
    assert set(kinds) <= set(KIND.values())
    for fault in ("429", "500", "truncated"):  # never mislabelled; fewer only if the client timed out first
        assert kinds[KIND[fault]] <= served[fault]
    assert kinds["timeout"] >= served["hang"] > 0
    assert all("HTTP 200 stream ended after 2 chunks" in e for e in logs if e.startswith("truncated"))
    # usage: every successful reply is a distinct upstream request, counted once
    replies = [unblob(c["response"])["choices"][0]["message"]["content"] for c in ok]
    serials = [int(r.removeprefix("Done (").removesuffix(").")) for r in replies]
    assert len(set(serials)) == len(serials)
    assert [c["prompt_tokens"] for c in ok] == [1000 + n for n in serials]
    assert [c["completion_tokens"] for c in ok] == [n + 1 for n in serials]
    db = sqlite3.connect(store)
    tokens_in = db.execute("SELECT SUM(tokens_in) FROM steps").fetchone()[0]
    db.close()
    assert tokens_in == sum(c["prompt_tokens"] for c in calls)


def test_a_truncated_stream_is_retried_for_a_plain_client_and_an_error_for_a_streaming_one(monkeypatch):
    fake = FakeUpstream(("truncated", "ok"))

    async def go():
        calls: list = []
        async with fake.running() as url:
            backend = OpenAIBackend(ModelSpec(id="fake", backend="openai", base_url=url, model="fake-model",
                                              max_retries=2, params={"retry_backoff_s": 0}))
            async with Gateway(recorder=calls.append) as gw:
                route = gw.open_route(backend)
                async with httpx.AsyncClient(timeout=60) as c:
                    plain = await c.post(gw.url_for(route) + "/chat/completions", json={"messages": MSG})
                    streamed = await c.post(gw.url_for(route) + "/chat/completions",
                                            json={"messages": MSG, "stream": True})
            await backend.aclose()
        return plain, streamed, calls

    plain, streamed, calls = asyncio.run(go())
    assert plain.status_code == 200 and plain.json()["choices"][0]["message"]["content"] == "Done (1)."
    assert calls[0].status == 200 and calls[0].retry_log[0].startswith("truncated: HTTP 200")
    assert calls[0].prompt_tokens == 1001  # the truncated attempt's partial reply is not counted
    # streamed: the first chunk went out before the stream broke, so no retry; an error, not a stop
    assert streamed.status_code == 200 and "data: [DONE]" not in streamed.text and "truncated" in streamed.text
    assert calls[1].status == 502 and calls[1].response["choices"][0]["finish_reason"] is None
    assert calls[1].response["choices"][0]["message"]["content"] == "Done (2)."  # kept as it arrived
    assert calls[1].retries == 0


class Failing:
    name, model = "failing", "failing"

    def __init__(self):
        self.calls = 0

    async def aclose(self):
        return None

    async def stream(self, request, ctx):
        self.calls += 1
        raise BackendError("upstream unreachable")
        yield {}  # pragma: no cover


def test_the_circuit_breaker_stops_calling_a_failing_model_and_says_why():
    backend = Failing()

    async def go():
        calls: list = []
        async with Gateway(recorder=calls.append, limits=GatewayLimits(breaker_failures=2)) as gw:
            route = gw.open_route(backend)
            async with httpx.AsyncClient() as c:
                statuses = [(await c.post(gw.url_for(route) + "/chat/completions", json={"messages": MSG}))
                            .status_code for _ in range(4)]
            with pytest.raises(BackendError, match="2 calls in a row failed.*upstream unreachable"):
                gw.check_circuit(route)
        return statuses, calls

    statuses, calls = asyncio.run(go())
    assert statuses == [502, 502, 503, 503]
    assert backend.calls == 2
    assert [c.status for c in calls] == statuses


def test_requests_the_upstream_rejects_do_not_open_the_breaker(monkeypatch):
    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"message": "context length exceeded"}})

    monkeypatch.setenv("GD_TEST_KEY", "k")
    backend = OpenAIBackend(ModelSpec(id="up", backend="openai", base_url="https://up.example/v1", model="m",
                                      api_key_env="GD_TEST_KEY"), transport=httpx.MockTransport(upstream))

    async def go():
        async with Gateway(limits=GatewayLimits(breaker_failures=2)) as gw:
            route = gw.open_route(backend)
            async with httpx.AsyncClient() as c:
                statuses = [(await c.post(gw.url_for(route) + "/chat/completions", json={"messages": MSG}))
                            .status_code for _ in range(3)]
            gw.check_circuit(route)  # still closed
        return statuses

    assert asyncio.run(go()) == [502, 502, 502]


def test_an_open_breaker_lets_calls_through_after_its_cooldown(monkeypatch):
    now = [100.0]
    monkeypatch.setattr("goaldrift.gateway.breaker.time.monotonic", lambda: now[0])
    breaker = CircuitBreaker("m", threshold=2, cooldown_s=60)
    breaker.failed("x")
    assert breaker.refusal() is None
    breaker.failed("y")
    assert "last: y" in (breaker.refusal() or "")
    now[0] += 61
    assert breaker.refusal() is None  # cooled down: the next call decides
    breaker.failed("z")
    assert breaker.refusal() is not None
    now[0] += 61
    breaker.succeeded()
    assert breaker.refusal() is None and breaker.failures == 0


def test_runs_fail_fast_once_a_model_keeps_failing(mini_pack, tmp_path):
    fake = FakeUpstream(("500",))
    store = tmp_path / "store.db"

    async def go():
        async with fake.running() as url:
            raw = experiment(url, mini_pack, max_retries=0)
            raw.update(steps=3, conditions=["privacy", "utility", "privacy->utility"])
            return await asyncio.to_thread(run_experiment, experiment_from_dict(raw), store, progress=False)

    summary = asyncio.run(go())
    # run 1: three failed steps; run 2: two more open the breaker (5), its step 3 and run 3 fail at once
    assert len(fake.served) == 5
    assert summary.finished == 1 and summary.failed == 2
    assert all("calls in a row failed" in e and "HTTP 500" in e for e in summary.errors)


def test_run_exits_2_naming_an_unreachable_endpoint_before_writing_anything(mini_pack, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exp = tmp_path / "exp.yaml"
    exp.write_text(json.dumps(experiment(f"http://127.0.0.1:{port}/v1", mini_pack)))
    out = tmp_path / "out"
    result = run_cli("run", str(exp), "--store", str(out / "store.db"), "--no-progress")
    assert result.returncode == 2, result.stderr
    assert f"http://127.0.0.1:{port}/v1/models" in result.stderr and "refused" in result.stderr
    assert not out.exists()


def probe(handler, **over) -> None:
    spec = ModelSpec(**{"id": "m", "backend": "openai", "base_url": "https://up.example/v1", "model": "gpt-x",
                        **over})

    async def go():
        async with httpx.AsyncClient(base_url=spec.base_url, transport=httpx.MockTransport(handler)) as client:
            await probe_openai(spec, client)

    asyncio.run(go())


def test_the_probe_names_the_reason():
    def listed(request):
        return httpx.Response(200, json={"data": [{"id": "gpt-x"}]})

    probe(listed)

    def unlisted(request):
        if request.url.path.endswith("/models"):
            return httpx.Response(200, json={"data": [{"id": "other"}]})
        return httpx.Response(404, json={"error": {"message": "The model `gpt-x` does not exist"}})

    with pytest.raises(EndpointError, match=r"https://up.example/v1/chat/completions: HTTP 404: model 'gpt-x'"):
        probe(unlisted)

    with pytest.raises(EndpointError, match="HTTP 401: the endpoint rejected the key"):
        probe(lambda r: httpx.Response(401, json={"error": {"message": "bad key"}}))

    def raises(exc):
        def handler(request):
            try:
                raise exc
            except OSError as cause:
                raise httpx.ConnectError(str(cause)) from cause

        return handler

    with pytest.raises(EndpointError, match="does not resolve"):
        probe(raises(socket.gaierror(-2, "Name or service not known")))
    with pytest.raises(EndpointError, match="TLS failed"):
        probe(raises(ssl.SSLCertVerificationError(1, "certificate verify failed")))

    def busy(request):  # a busy endpoint passes: the run's retries deal with it
        return httpx.Response(404 if request.url.path.endswith("/models") else 429)

    probe(busy)
