"""The gateway against a hostile client: the agent under test calling its own route with anything.

Each test attacks one bound (body size, JSON depth, forwarded fields, token budget, reply size,
disconnects, connection flood, token confusion) and checks the answer the client gets *and* the
record the store would get. Limits are set small so no test needs big payloads; nothing asserts on
speed (waits are bounded polls for something that must happen).
"""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import time
import weakref
from typing import Any

import httpx
import pytest

from goaldrift.errors import BackendError
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.base import TokenBudget
from goaldrift.gateway.backends.scripted import ScriptedBackend
from goaldrift.gateway.chunks import chunk, message_chunks, new_id, usage
from goaldrift.gateway.limits import FORWARDED_FIELDS, GatewayLimits
from goaldrift.modelspec import ModelSpec

MSG = [{"role": "user", "content": "hello"}]


class Echo:
    """A backend that keeps every request it was handed and answers with fixed usage."""

    name, model = "echo", "echo"

    def __init__(self, prompt_tokens: int = 10, completion_tokens: int = 5):
        self.requests: list[dict[str, Any]] = []
        self.use = usage(prompt_tokens, completion_tokens)

    async def aclose(self) -> None:
        return None

    async def stream(self, request, ctx):
        self.requests.append(request)
        for c in message_chunks(self.model, content="ok", usage_=self.use):
            yield c


class Stalls:
    """A backend that sends a first chunk, then waits forever (until cancelled)."""

    name, model = "stalls", "stalls"

    def __init__(self):
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def aclose(self) -> None:
        return None

    async def stream(self, request, ctx):
        try:
            yield chunk(new_id(), self.model, {"role": "assistant", "content": "partial"})
            self.started.set()
            await asyncio.sleep(3600)
        except (asyncio.CancelledError, GeneratorExit):
            self.cancelled.set()
            raise


async def until(predicate, timeout: float = 30.0) -> None:
    """Wait until ``predicate()`` holds; the bound only keeps a broken gateway from hanging the test."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def serve(backend, *, limits: GatewayLimits | None = None, budget: TokenBudget | None = None, step: int = 1):
    """Decorator: run ``test(gw, route, url, calls)`` against a gateway with one route."""

    def wrap(test):
        async def go():
            calls: list = []
            async with Gateway(recorder=calls.append, limits=limits) as gw:
                route = gw.open_route(backend, attempt_id=1, budget=budget)
                route.step = step
                return await test(gw, route, gw.url_for(route) + "/chat/completions", calls)

        return asyncio.run(go())

    return wrap


def test_an_oversized_body_is_a_recorded_413_in_openai_shape():
    backend = Echo()

    @serve(backend, limits=GatewayLimits(max_body_bytes=2000))
    async def got(gw, route, url, calls):
        big = {"messages": [{"role": "user", "content": "x" * 5000}]}
        async with httpx.AsyncClient() as c:
            declared = await c.post(url, json=big)

            async def drip():  # chunked upload: no Content-Length to refuse up front
                for _ in range(10):
                    yield b" " * 500

            chunked = await c.post(url, content=drip())
            fine = await c.post(url, json={"messages": MSG})
        return declared, chunked, fine, calls

    declared, chunked, fine, calls = got
    for resp in (declared, chunked):
        assert resp.status_code == 413
        err = resp.json()["error"]
        assert err["code"] == 413 and "2000 bytes" in err["message"] and err["type"]
    assert fine.status_code == 200
    assert [c.status for c in calls] == [413, 413, 200]
    assert len(backend.requests) == 1  # refused bodies never reached the backend


def test_bad_and_deep_json_are_recorded_400s_never_500s():
    backend = Echo()

    @serve(backend, limits=GatewayLimits(max_json_depth=20))
    async def got(gw, route, url, calls):
        async with httpx.AsyncClient() as c:
            bomb = await c.post(url, content=b'{"messages": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
            deep = await c.post(url, json={"messages": MSG, "x": json.loads("[" * 30 + "]" * 30)})
            broken = await c.post(url, content=b"{nope")
            binary = await c.post(url, content=b"\xff\xfe\x00")
            no_messages = await c.post(url, json={"messages": "hi"})
        return [bomb, deep, broken, binary, no_messages], calls

    responses, calls = got
    assert [r.status_code for r in responses] == [400] * 5
    assert all(r.json()["error"]["code"] == 400 for r in responses)
    assert "deeper than 20" in responses[0].json()["error"]["message"]
    assert "deeper than 20" in responses[1].json()["error"]["message"]
    assert [c.status for c in calls] == [400] * 5 and all(c.error for c in calls)
    assert backend.requests == []


def test_only_allow_listed_fields_reach_the_backend_and_upstream(monkeypatch):
    from goaldrift.gateway.backends.openai import OpenAIBackend

    monkeypatch.setenv("GD_TEST_KEY", "k")
    seen: list[dict] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        text = "".join(f"data: {json.dumps(c)}\n\n" for c in message_chunks("up", content="ok", usage_=usage(1, 1)))
        return httpx.Response(200, text=text + "data: [DONE]\n\n", headers={"content-type": "text/event-stream"})

    smuggled = {"n": 8, "logit_bias": {"1": 100}, "user": "x", "extra_body": {"provider": "other"},
                "reasoning": {"effort": "high"}, "model": "gpt-expensive", "service_tier": "priority"}
    echo = Echo()
    spec = ModelSpec(id="up", backend="openai", base_url="https://example.invalid/v1", model="gpt-x",
                     api_key_env="GD_TEST_KEY")
    openai = OpenAIBackend(spec, transport=httpx.MockTransport(upstream))

    async def go():
        calls: list = []
        async with Gateway(recorder=calls.append) as gw:
            urls = [gw.url_for(gw.open_route(b)) + "/chat/completions" for b in (echo, openai)]
            async with httpx.AsyncClient() as c:
                for url in urls:
                    resp = await c.post(url, json={"messages": MSG, "temperature": 0.1, **smuggled})
                    assert resp.status_code == 200
        return calls

    calls = asyncio.run(go())
    assert set(echo.requests[0]) == {"messages", "temperature"}
    assert set(echo.requests[0]) <= FORWARDED_FIELDS
    upstream_body = seen[0]
    assert not set(smuggled) - {"model"} & set(upstream_body)
    assert upstream_body["model"] == "gpt-x"  # the experiment's model, not the agent's choice
    assert calls[0].request["n"] == 8  # the record keeps what the agent really sent


def test_the_token_budget_refuses_further_calls_per_step_and_per_run():
    backend = Echo(prompt_tokens=400, completion_tokens=200)  # 600 per call

    @serve(backend, budget=TokenBudget(step_tokens=1000, run_tokens=1500))
    async def got(gw, route, url, calls):
        statuses = []
        async with httpx.AsyncClient() as c:
            for step in (1, 1, 1, 2, 2):
                route.step = step
                resp = await c.post(url, json={"messages": MSG})
                statuses.append(resp.status_code)
            refusal = resp.json()["error"]
        return statuses, refusal, calls

    statuses, refusal, calls = got
    # step 1: 600, 1200 (crosses 1000), refused; step 2: 600 more makes the run 1800 > 1500, refused
    assert statuses == [200, 200, 402, 200, 402]
    assert refusal["code"] == 402 and "budget" in refusal["message"] and "run" in refusal["message"]
    assert len(backend.requests) == 3
    assert [c.status for c in calls] == statuses
    assert sum(c.prompt_tokens + c.completion_tokens for c in calls) == 1800  # refusals cost nothing


def test_an_oversized_reply_is_cut_off_and_recorded_as_an_error():
    class Flood:
        name, model = "flood", "flood"
        closed = False

        async def aclose(self):
            return None

        async def stream(self, request, ctx):
            cid = new_id()
            try:
                while True:
                    yield chunk(cid, self.model, {"content": "y" * 1000})
            finally:
                Flood.closed = True

    @serve(Flood(), limits=GatewayLimits(max_reply_chars=50_000))
    async def got(gw, route, url, calls):
        async with httpx.AsyncClient() as c:
            plain = await c.post(url, json={"messages": MSG})
            streamed = await c.post(url, json={"messages": MSG, "stream": True})
        return plain, streamed, calls

    plain, streamed, calls = got
    assert plain.status_code == 502 and "50000 characters" in plain.json()["error"]["message"]
    assert streamed.status_code == 200 and '"code":502' in streamed.text and "data: [DONE]" not in streamed.text
    assert [c.status for c in calls] == [502, 502] and Flood.closed
    assert all(len(c.response["choices"][0]["message"]["content"]) <= 51_000 for c in calls)


def test_a_stream_without_a_finish_is_an_error_not_a_made_up_stop():
    class Truncated:
        name, model = "trunc", "trunc"

        async def aclose(self):
            return None

        async def stream(self, request, ctx):
            cid = new_id()
            yield chunk(cid, self.model, {"role": "assistant", "content": "half an ans"})

    @serve(Truncated())
    async def got(gw, route, url, calls):
        async with httpx.AsyncClient() as c:
            plain = await c.post(url, json={"messages": MSG})
            streamed = await c.post(url, json={"messages": MSG, "stream": True})
        return plain, streamed, calls

    plain, streamed, calls = got
    assert plain.status_code == 502 and "finish_reason" in plain.json()["error"]["message"]
    assert "data: [DONE]" not in streamed.text and "finish_reason" in streamed.text
    assert [c.status for c in calls] == [502, 502]
    assert all(c.response["choices"][0]["finish_reason"] is None for c in calls)


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_disconnects_cancels_the_backend_and_is_recorded_499(stream):
    backend = Stalls()

    @serve(backend)
    async def got(gw, route, url, calls):
        async with httpx.AsyncClient() as c:
            if stream:  # read the first chunk, then hang up mid-stream
                async with c.stream("POST", url, json={"messages": MSG, "stream": True}) as resp:
                    async for line in resp.aiter_lines():
                        if line.startswith("data:"):
                            break
            else:  # give up while the gateway collects the reply (nothing was sent back yet)
                task = asyncio.ensure_future(c.post(url, json={"messages": MSG}))
                await until(backend.started.is_set)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
        await until(lambda: bool(calls))
        return calls

    calls = got
    assert backend.cancelled.is_set()
    assert [c.status for c in calls] == [499] and "disconnected" in calls[0].error
    assert calls[0].response["choices"][0]["message"]["content"] == "partial"


def test_unknown_tokens_never_reach_another_open_route():
    a, b = Echo(), Echo()

    async def go():
        calls: list = []
        async with Gateway(recorder=calls.append) as gw:
            ra, rb = gw.open_route(a, attempt_id=1), gw.open_route(b, attempt_id=2)
            base = gw.base_url
            async with httpx.AsyncClient() as c:
                body = {"messages": MSG}
                unknown_path = await c.post(f"{base}/r/gd-forged/v1/chat/completions", json=body,
                                            headers={"authorization": f"Bearer {ra.token}"})
                no_token = await c.post(f"{base}/v1/chat/completions", json=body)
                bad_bearer = await c.post(f"{base}/v1/chat/completions", json=body,
                                          headers={"authorization": "Bearer gd-forged"})
                empty_path = await c.post(f"{base}/r//v1/chat/completions", json=body,
                                          headers={"authorization": f"Bearer {ra.token}"})
                models = await c.get(f"{base}/r/gd-forged/v1/models")
                path_wins = await c.post(gw.url_for(rb) + "/chat/completions", json=body,
                                         headers={"authorization": f"Bearer {ra.token}"})
                gw.close_route(ra)
                closed = await c.post(gw.url_for(ra) + "/chat/completions", json=body)
        return [unknown_path, no_token, bad_bearer, empty_path, models, closed], path_wins, calls

    refused, path_wins, calls = asyncio.run(go())
    assert [r.status_code for r in refused][:3] == [401, 401, 401]
    assert refused[3].status_code in (401, 404) and refused[4].status_code == 401
    assert refused[5].status_code == 401
    assert path_wins.status_code == 200
    assert [(c.attempt_id, c.status) for c in calls] == [(2, 200)]
    assert len(a.requests) == 0 and len(b.requests) == 1


def test_a_bearer_token_reaches_its_own_route_and_models_and_token_counts_are_per_route():
    a, b = Echo(), Echo()
    a.model, b.model = "model-a", "model-b"

    async def go():
        calls: list = []
        async with Gateway(recorder=calls.append) as gw:
            ra, rb = gw.open_route(a, attempt_id=1), gw.open_route(b, attempt_id=2)
            chat = gw.base_url + "/v1/chat/completions"
            async with httpx.AsyncClient() as c:
                body = {"messages": MSG}
                replies = {
                    "bearer": await c.post(chat, json=body, headers={"authorization": f"Bearer {rb.token}"}),
                    "lower case, spaces": await c.post(chat, json=body,
                                                       headers={"authorization": f"bearer   {ra.token}"}),
                    "not bearer": await c.post(chat, json=body, headers={"authorization": f"Basic {rb.token}"}),
                    "bare token": await c.post(chat, json=body, headers={"authorization": rb.token}),
                    "7-letter scheme": await c.post(chat, json=body,
                                                    headers={"authorization": f"Basic  {rb.token}"}),
                }
                models = [await c.get(gw.base_url + "/v1/models", headers={"authorization": f"Bearer {rb.token}"}),
                          await c.get(gw.url_for(ra) + "/models"), await c.get(gw.base_url + "/r/gd-forged/v1/models")]
                count = gw.base_url + "/r/{}/v1/messages/count_tokens"
                counted = await c.post(count.format(ra.token), json={"model": "x", "messages": MSG})
                uncounted = await c.post(count.format("gd-forged"), json={"model": "x", "messages": MSG})
                not_json = await c.post(count.format(ra.token), content=b"{not json")
                url = gw.url_for(ra)
        return replies, models, counted, uncounted, not_json, calls, url, ra

    replies, models, counted, uncounted, not_json, calls, url, ra = asyncio.run(go())
    assert {k: r.status_code for k, r in replies.items()} == {"bearer": 200, "lower case, spaces": 200,
                                                              "not bearer": 401, "bare token": 401,
                                                              "7-letter scheme": 401}
    assert [(c.attempt_id, c.model) for c in calls] == [(2, "model-b"), (1, "model-a")]
    assert len(a.requests) == 1 and len(b.requests) == 1
    assert models[0].json() == {"object": "list", "data": [{"id": "model-b", "object": "model", "owned_by": "goaldrift"}]}
    assert models[1].json()["data"][0]["id"] == "model-a"
    assert models[2].status_code == 401 and models[2].json() == {
        "error": {"message": "unknown gateway token", "type": "invalid_request_error", "code": 401}}
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
    assert uncounted.status_code == 401 and uncounted.json() == {"type": "error", "error": {
        "type": "authentication_error",
        "message": "unknown gateway token: this run's route is closed or was never opened"}}
    assert not_json.status_code == 400 and not_json.json()["error"]["message"].startswith("request body is not JSON")
    assert url.endswith(f"/r/{ra.token}/v1") and url.startswith("http://127.0.0.1:")


def test_a_closed_route_lets_go_of_its_backend_and_closing_twice_is_harmless():
    gw = Gateway()
    backend = Echo()
    freed = weakref.ref(backend)
    route = gw.open_route(backend, attempt_id=1)
    gw.close_route(route)
    gw.close_route(route)  # a runner's cleanup may close a route its error path closed already
    del backend
    gc.collect()
    assert freed() is None and gw.routes == {}  # a long experiment does not keep every run's backend


def test_a_route_carries_its_run_s_seed_and_context_and_a_tripped_breaker_names_its_model():
    gw = Gateway(limits=GatewayLimits(breaker_failures=2))
    backend, context, budget = Echo(), object(), TokenBudget(step_tokens=10)
    backend.model = "model-a"
    route = gw.open_route(backend, attempt_id=3, seed=7, context=context, budget=budget)
    assert (route.model_id, route.attempt_id, route.seed, route.context) == ("model-a", 3, 7, context)
    assert route.budget is budget and gw.open_route(backend).budget == TokenBudget()
    gw.check_circuit(route)  # closed: no refusal
    for _ in range(2):
        gw.breakers["model-a"].failed("502 from upstream")
    with pytest.raises(BackendError, match="model 'model-a': 2 calls in a row failed"):
        gw.check_circuit(route)
    cooled = Gateway(limits=GatewayLimits(breaker_failures=1, breaker_cooldown_s=0.0))
    route = cooled.open_route(backend)
    cooled.breakers["model-a"].failed("502 from upstream")
    cooled.check_circuit(route)  # the gateway's cooldown (none here), not a built-in one


def test_a_connection_flood_is_bounded_and_the_gateway_serves_again():
    limits = GatewayLimits(max_connections=20, header_timeout_s=1.0)
    backend = ScriptedBackend(ModelSpec(id="s", backend="scripted"))

    async def go():
        async with Gateway(limits=limits) as gw:
            route = gw.open_route(backend)
            server = gw._server
            assert server is not None
            held: list[socket.socket] = []
            most = 0
            for i in range(200):  # half-open: connect, send part of a request head, never finish
                s = socket.create_connection((gw.host, gw.port))
                s.setblocking(False)
                if i % 2:
                    s.send(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
                held.append(s)
                await asyncio.sleep(0)
                most = max(most, len(server.server_state.connections))
            await until(lambda: len(server.server_state.connections) == 0)  # the header timeout
            async with httpx.AsyncClient() as c:
                resp = await c.post(gw.url_for(route) + "/chat/completions", json={"messages": MSG})
            for s in held:
                s.close()
            return most, resp.status_code

    most, status = asyncio.run(go())
    assert most <= 20
    assert status == 200


def test_a_step_over_its_gateway_budget_ends_as_an_error_not_a_hang(tmp_path):
    from goaldrift.agents.base import AgentLimits, AgentSession
    from goaldrift.agents.builtin import BuiltinAgent
    from goaldrift.gateway.chunks import tool_call

    class Lister(Echo):  # always asks to list files: a loop only a limit can end
        async def stream(self, request, ctx):
            self.requests.append(request)
            for c in message_chunks(self.model, tool_calls=[tool_call("list_files", {})], usage_=self.use):
                yield c

    backend = Lister(prompt_tokens=400, completion_tokens=200)

    async def go():
        calls: list = []
        async with Gateway(recorder=calls.append) as gw:
            route = gw.open_route(backend, budget=TokenBudget(step_tokens=1000))
            route.step = 1
            agent = BuiltinAgent()
            # the harness's own limits are far above the gateway's budget: only the gateway stops it
            await agent.start(AgentSession(workspace=tmp_path, base_url=gw.url_for(route), api_key=route.token,
                                           model="echo", limits=AgentLimits(max_tool_calls=1000),
                                           options={"sandbox": "none"}))
            try:
                return await agent.step(1, "list forever"), calls
            finally:
                await agent.stop()

    trace, calls = asyncio.run(go())
    assert [c.status for c in calls] == [200, 200, 402]
    assert any("HTTP 402" in e and "budget" in e for e in trace.errors)
    assert len(backend.requests) == 2


def test_a_hostile_upstream_cannot_make_the_gateway_buffer_without_bound(monkeypatch):
    """Endless replies, one endless SSE line, an endless error body: each is read only up to a bound."""
    from goaldrift.gateway.backends.openai import OpenAIBackend

    monkeypatch.setenv("GD_TEST_KEY", "k")
    produced = {"flood": 0, "line": 0, "error": 0}
    total = 2000  # pieces each upstream would send if read to the end

    def body(kind: str):
        async def gen():
            piece = json.dumps(chunk("c", "up", {"content": "z" * 1000}))
            for _ in range(total):
                produced[kind] += 1
                if kind == "flood":
                    yield f"data: {piece}\n\n".encode()
                else:
                    yield b"y" * 10_000  # no newline, ever
        return gen()

    def upstream(request: httpx.Request) -> httpx.Response:
        kind = json.loads(request.content)["messages"][0]["content"]
        status = 500 if kind == "error" else 200
        return httpx.Response(status, content=body(kind), headers={"content-type": "text/event-stream"})

    spec = ModelSpec(id="up", backend="openai", base_url="https://up.example/v1", model="m",
                     api_key_env="GD_TEST_KEY", max_retries=0)

    async def go():
        calls: list = []
        backend = OpenAIBackend(spec, transport=httpx.MockTransport(upstream))
        async with Gateway(recorder=calls.append, limits=GatewayLimits(max_reply_chars=20_000)) as gw:
            route = gw.open_route(backend)
            async with httpx.AsyncClient(timeout=60) as c:
                for kind in produced:
                    resp = await c.post(gw.url_for(route) + "/chat/completions",
                                        json={"messages": [{"role": "user", "content": kind}]})
                    assert resp.status_code == 502, (kind, resp.text[:200])
        return calls

    calls = asyncio.run(go())
    assert "exceeded 20000 characters" in calls[0].error
    assert "line longer than" in calls[1].error
    assert calls[2].retry_log[0].startswith("HTTP 500: yyy") and len(calls[2].retry_log[0]) < 400
    assert all(n < total for n in produced.values()), produced
