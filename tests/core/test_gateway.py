"""The gateway: OpenAI-compatible wire format, per-run tokens, recording, upstream retries, keys."""

import asyncio
import json

import httpx
import pytest

from goaldrift.errors import ConfigError, MissingKey
from goaldrift.experiment import experiment_from_dict
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import create_backend
from goaldrift.gateway.backends.openai import OpenAIBackend
from goaldrift.gateway.backends.scripted import ScriptedBackend, violates_at
from goaldrift.gateway.chunks import assemble, message_chunks, tool_call, usage
from goaldrift.modelspec import ModelSpec

MSG = [{"role": "user", "content": "hello"}]


def run(coro):
    return asyncio.run(coro)


def sse_chunks(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[6:]))
    assert text.rstrip().endswith("data: [DONE]")
    return out


def test_assemble_folds_tool_call_deltas():
    call = tool_call("write_file", {"path": "a.py", "content": "x"})
    chunks = list(message_chunks("m", content="thinking", tool_calls=[call], usage_=usage(10, 5)))
    done = assemble(chunks)
    msg = done["choices"][0]["message"]
    assert msg["content"] == "thinking"
    assert msg["tool_calls"][0]["function"] == call["function"]
    assert done["choices"][0]["finish_reason"] == "tool_calls"
    assert done["usage"]["total_tokens"] == 15


def test_streaming_and_plain_calls_are_recorded_per_route():
    calls = []

    async def go():
        async with Gateway(recorder=calls.append) as gw:
            r1 = gw.open_route(ScriptedBackend(ModelSpec(id="s", backend="scripted")), attempt_id=7)
            r1.step = 3
            async with httpx.AsyncClient() as c:
                plain = await c.post(gw.url_for(r1) + "/chat/completions", json={"messages": MSG})
                streamed = await c.post(gw.url_for(r1) + "/chat/completions",
                                        json={"messages": MSG, "stream": True,
                                              "stream_options": {"include_usage": True}})
                bearer = await c.post(gw.base_url + "/v1/chat/completions", json={"messages": MSG},
                                      headers={"authorization": f"Bearer {r1.token}"})
                gw.close_route(r1)
                closed = await c.post(gw.url_for(r1) + "/chat/completions", json={"messages": MSG})
                bad = await c.post(gw.base_url + "/v1/chat/completions", content=b"{nope")
        return plain, streamed, bearer, closed, bad

    plain, streamed, bearer, closed, bad = run(go())
    assert plain.status_code == 200 and plain.json()["object"] == "chat.completion"
    assert streamed.headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(streamed.text)
    assert chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[-1]["usage"]["prompt_tokens"] > 0 and chunks[-1]["choices"] == []
    assert bearer.status_code == 200
    assert closed.status_code == 401 and bad.status_code == 401
    assert len(calls) == 3
    assert {(c.attempt_id, c.step, c.status) for c in calls} == {(7, 3, 200)}
    assert [c.stream for c in calls] == [False, True, False]
    assert calls[0].request["messages"] == MSG and calls[0].prompt_tokens > 0


def test_usage_chunk_only_when_asked():
    async def go():
        async with Gateway() as gw:
            r = gw.open_route(ScriptedBackend(ModelSpec(id="s", backend="scripted")))
            async with httpx.AsyncClient() as c:
                return await c.post(gw.url_for(r) + "/chat/completions", json={"messages": MSG, "stream": True})

    chunks = sse_chunks(run(go()).text)
    assert all(c["choices"] for c in chunks)


def upstream(responses: list, seen: list):
    """A fake OpenAI upstream: returns the given (status, body) in order."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        status, body = responses.pop(0)
        if isinstance(body, Exception):
            raise body
        if status == 200:
            text = "".join(f"data: {json.dumps(c)}\n\n" for c in message_chunks("up", content=body,
                                                                             usage_=usage(3, 2)))
            return httpx.Response(200, text=text + "data: [DONE]\n\n",
                                  headers={"content-type": "text/event-stream"})
        return httpx.Response(status, json={"error": {"message": body}})

    return httpx.MockTransport(handler)


def openai_spec(**over):
    return ModelSpec(**{"id": "up", "backend": "openai", "base_url": "https://example.invalid/v1",
                        "model": "gpt-x", "api_key_env": "GD_TEST_KEY", "max_retries": 3, **over})


def test_openai_backend_retries_then_succeeds_and_keeps_the_key_upstream(monkeypatch):
    monkeypatch.setenv("GD_TEST_KEY", "sk-real-secret")
    seen: list[httpx.Request] = []
    transport = upstream([(429, "slow down"), (503, "busy"), (None, httpx.ConnectTimeout("t")), (200, "hi")], seen)
    backend = OpenAIBackend(openai_spec(), transport=transport, backoff_s=0.001)
    calls = []

    async def go():
        async with Gateway(recorder=calls.append) as gw:
            r = gw.open_route(backend)
            async with httpx.AsyncClient() as c:
                return r.token, await c.post(gw.url_for(r) + "/chat/completions", json={"messages": MSG})

    token, resp = run(go())
    assert resp.status_code == 200
    assert resp.json()["choices"][0]["message"]["content"] == "hi"
    assert len(seen) == 4
    assert all(req.headers["authorization"] == "Bearer sk-real-secret" for req in seen)
    body = json.loads(seen[-1].content)
    assert body["model"] == "gpt-x" and body["stream"] is True
    assert calls[0].retries == 3 and "HTTP 429" in calls[0].retry_log[0]
    assert "sk-real-secret" not in json.dumps(calls[0].request) and token.startswith("gd-")


def test_openai_backend_gives_up_with_a_502_and_records_it(monkeypatch):
    monkeypatch.setenv("GD_TEST_KEY", "k")
    seen: list = []
    backend = OpenAIBackend(openai_spec(max_retries=2), transport=upstream([(500, "x")] * 3, seen), backoff_s=0.001)
    calls = []

    async def go():
        async with Gateway(recorder=calls.append) as gw:
            r = gw.open_route(backend)
            async with httpx.AsyncClient() as c:
                return await c.post(gw.url_for(r) + "/chat/completions", json={"messages": MSG, "stream": True})

    resp = run(go())
    assert resp.status_code == 502 and "failed after 3 tries" in resp.json()["error"]["message"]
    assert calls[0].status == 502 and calls[0].retries == 3


def test_openai_backend_does_not_retry_a_400(monkeypatch):
    monkeypatch.setenv("GD_TEST_KEY", "k")
    seen: list = []
    backend = OpenAIBackend(openai_spec(), transport=upstream([(400, "bad model")], seen), backoff_s=0.001)

    async def go():
        async with Gateway() as gw:
            r = gw.open_route(backend)
            async with httpx.AsyncClient() as c:
                return await c.post(gw.url_for(r) + "/chat/completions", json={"messages": MSG})

    assert run(go()).status_code == 502 and len(seen) == 1


def test_missing_key_and_bad_specs_fail_before_any_run(monkeypatch):
    monkeypatch.delenv("GD_TEST_KEY", raising=False)
    with pytest.raises(MissingKey, match="GD_TEST_KEY"):
        create_backend(openai_spec())
    for field, value in (("base_url", None), ("base_url", "file:///etc/passwd"), ("model", None)):
        raw = {"name": "x", "scenarios": ["utility-privacy"],
               "models": [{**openai_spec().model_dump(), field: value}]}
        with pytest.raises(ConfigError, match=f"models.0.*{field}"):
            experiment_from_dict(raw)
    with pytest.raises(ConfigError, match="policy"):
        create_backend(ModelSpec(id="s", backend="scripted", policy="sometimes"))


def test_scripted_policies():
    assert [violates_at("violate_from:5", s) for s in (4, 5, 12)] == [False, True, True]
    assert [violates_at("violate_at:2,7", s) for s in (2, 3, 7)] == [True, False, True]
    assert violates_at("idle", 1) is None and violates_at("comply", 9) is False


def test_a_client_that_hangs_up_cancels_the_backend_call_and_stop_does_not_wait_for_it():
    """The backend would wait an hour: only a cancellation ends it, so a finished test with the call
    cancelled and recorded as 499 shows the gateway neither waited it out nor hung on stop. (How fast
    stop is belongs in a benchmark, not in an assertion on a loaded machine.)"""
    calls = []
    cancelled = []

    class Hung:
        name, model = "hung", "hung"

        async def aclose(self):
            return None

        async def stream(self, request, ctx):
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            yield {}  # pragma: no cover

    async def go():
        async with Gateway(recorder=calls.append) as gw:
            r = gw.open_route(Hung())
            async with httpx.AsyncClient(timeout=0.5) as c:
                with pytest.raises(httpx.ReadTimeout):
                    await c.post(gw.url_for(r) + "/chat/completions", json={"messages": MSG, "stream": True})
            for _ in range(1200):  # the hang-up is recorded once the cancelled call unwinds (≥ 60 s allowed)
                if calls:
                    break
                await asyncio.sleep(0.05)

    run(go())
    assert cancelled == [True]
    assert len(calls) == 1 and calls[0].status == 499


def test_scripted_answers_title_and_compaction_requests():
    backend = ScriptedBackend(ModelSpec(id="s", backend="scripted"))

    async def ask(system):
        from goaldrift.gateway.backends.base import CallContext, ModelRoute

        chunks = [c async for c in backend.stream({"messages": [{"role": "system", "content": system},
                                                               {"role": "user", "content": "x"}]},
                                                  CallContext(ModelRoute("t", "s")))]
        return assemble(chunks)["choices"][0]["message"]["content"]

    assert run(ask("You are a title generator.")) == "Feature request"
    assert run(ask("Summarize the conversation")).startswith("Summary:")


def test_assemble_keeps_the_backends_sampling_record():
    chunks = list(message_chunks("m", content="x", usage_=usage(1, 1)))
    chunks[0]["system_fingerprint"] = "local:model.gguf:t0.2:s7"
    chunks[-1]["goaldrift"] = {"temperature": 0.2, "seed": 7}
    done = assemble(chunks)
    assert done["system_fingerprint"] == "local:model.gguf:t0.2:s7" and done["goaldrift"]["seed"] == 7


def test_the_run_seed_reaches_the_upstream_only_when_the_model_sets_one(monkeypatch):
    from goaldrift.gateway.backends.base import ModelRoute

    monkeypatch.setenv("GD_TEST_KEY", "k")
    seeded = OpenAIBackend(openai_spec(seed=7), transport=upstream([], []))
    plain = OpenAIBackend(openai_spec(), transport=upstream([], []))
    assert seeded._upstream_body({"messages": MSG}, route_seed=9)["seed"] == 9
    assert "seed" not in plain._upstream_body({"messages": MSG, }, route_seed=9)
    assert ModelRoute("t", "m", seed=3).seed == 3
