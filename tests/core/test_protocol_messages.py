"""Anthropic Messages on the gateway: event order, tool blocks both ways, errors in Anthropic's shape, bounds."""

import asyncio
import json

import httpx
import pytest

from goaldrift.errors import BackendError
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.base import TokenBudget
from goaldrift.gateway.backends.scripted import ScriptContext, ScriptedBackend
from goaldrift.gateway.chunks import chunk, usage
from goaldrift.gateway.limits import GatewayLimits
from goaldrift.modelspec import ModelSpec
from goaldrift.scenario import load_scenario

USER = [{"role": "user", "content": "hello"}]


def run(coro):
    return asyncio.run(coro)


def events(text: str) -> list[tuple[str, dict]]:
    """(event name, data) of an SSE body; the name must match the data's ``type``, as Anthropic's do."""
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        out.append((lines["event"], data))
    return out


def split_reply() -> list[dict]:
    """Text, then two tool calls whose arguments arrive in pieces, as a chat backend streams them."""
    c = "chatcmpl-1"
    return [
        chunk(c, "m", {"role": "assistant", "content": ""}),
        chunk(c, "m", {"content": "Let me "}),
        chunk(c, "m", {"content": "look."}),
        chunk(c, "m", {"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                       "function": {"name": "read", "arguments": ""}}]}),
        chunk(c, "m", {"tool_calls": [{"index": 0, "function": {"arguments": '{"pa'}}]}),
        chunk(c, "m", {"tool_calls": [{"index": 0, "function": {"arguments": 'th": "a.py"}'}}]}),
        chunk(c, "m", {"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                                       "function": {"name": "grep", "arguments": '{"q":'}}]}),
        chunk(c, "m", {"tool_calls": [{"index": 1, "function": {"arguments": ' "x"}'}}]}),
        chunk(c, "m", {}, "tool_calls"),
        {**chunk(c, "m", {}, usage=usage(120, 30)), "choices": []},
    ]


class Fixed:
    """A backend that yields the given chunks (then raises ``fail`` if set) and keeps what it was asked."""

    name, model = "fixed", "fixed-model"

    def __init__(self, chunks: list[dict], fail: Exception | None = None):
        self.chunks, self.fail, self.requests = chunks, fail, []

    async def aclose(self):
        return None

    async def stream(self, request, ctx):
        self.requests.append(request)
        for c in self.chunks:
            yield c
        if self.fail:
            raise self.fail


def serve(backend, calls: list, requests, *, limits=None, budget=None, path="/v1/messages"):
    """Post each (body or raw bytes) in ``requests`` to one route; the httpx responses."""
    async def go():
        async with Gateway(recorder=calls.append, limits=limits) as gw:
            r = gw.open_route(backend, attempt_id=1, budget=budget)
            r.step = 1
            base = f"{gw.base_url}/r/{r.token}"
            async with httpx.AsyncClient() as c:
                return [await (c.post(base + path, content=b) if isinstance(b, bytes) else c.post(base + path, json=b))
                        for b in requests]
    return run(go())


def test_a_streamed_reply_follows_anthropics_event_sequence_with_tool_calls_reassembled():
    calls = []
    backend = Fixed(split_reply())
    (resp,) = serve(backend, calls, [{"model": "claude-x", "max_tokens": 100, "messages": USER, "stream": True}],
                    path="/v1/messages?beta=true")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    evs = events(resp.text)
    assert [name for name, _ in evs] == [
        "message_start",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop"]
    starts = [d["content_block"] for n, d in evs if n == "content_block_start"]
    assert starts == [{"type": "text", "text": ""},
                      {"type": "tool_use", "id": "call_a", "name": "read", "input": {}},
                      {"type": "tool_use", "id": "call_b", "name": "grep", "input": {}}]
    by_index: dict[int, str] = {}
    for n, d in evs:
        if n == "content_block_delta":
            piece = d["delta"].get("text", d["delta"].get("partial_json"))
            by_index[d["index"]] = by_index.get(d["index"], "") + piece
    assert by_index[0] == "Let me look."
    assert json.loads(by_index[1]) == {"path": "a.py"} and json.loads(by_index[2]) == {"q": "x"}
    delta = evs[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use"
    assert delta["usage"]["input_tokens"] == 120 and delta["usage"]["output_tokens"] == 30
    assert evs[0][1]["message"]["role"] == "assistant" and evs[0][1]["message"]["content"] == []
    (rec,) = calls
    assert (rec.protocol, rec.status, rec.stream, rec.prompt_tokens, rec.completion_tokens) == \
        ("anthropic_messages", 200, True, 120, 30)
    assert rec.wire_request["model"] == "claude-x" and rec.request["messages"] == USER
    assert rec.response["choices"][0]["message"]["tool_calls"][1]["function"]["arguments"] == '{"q": "x"}'


def test_requests_and_replies_translate_both_ways_without_a_stream():
    calls = []
    backend = Fixed(split_reply())
    body = {
        "model": "claude-x", "max_tokens": 64, "temperature": 0.2, "stop_sequences": ["END"],
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}},
                   {"type": "text", "text": "Follow AGENTS.md."}],
        "tools": [{"name": "read", "description": "read a file", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u"}, "top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "fix it"}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Reading."},
                {"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a.py"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "x = 1"}]},
                {"type": "text", "text": "now edit"}]},
        ],
    }
    (resp,) = serve(backend, calls, [body])
    assert resp.status_code == 200
    sent = backend.requests[0]
    assert sent["messages"] == [
        {"role": "system", "content": "You are terse.\n\nFollow AGENTS.md."},
        {"role": "user", "content": "fix it"},
        {"role": "assistant", "content": "Reading.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "read", "arguments": '{"path": "a.py"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "x = 1"},
        {"role": "user", "content": "now edit"},
    ]
    assert sent["tools"] == [{"type": "function", "function": {"name": "read", "parameters": {"type": "object"},
                                                                "description": "read a file"}}]
    assert (sent["tool_choice"], sent["parallel_tool_calls"], sent["max_tokens"], sent["stop"]) == \
        ("required", False, 64, ["END"])
    assert not {"metadata", "top_k", "thinking", "model", "system"} & set(sent)  # dropped, never forwarded
    reply = resp.json()
    assert reply["type"] == "message" and reply["role"] == "assistant" and reply["stop_reason"] == "tool_use"
    assert reply["content"] == [{"type": "text", "text": "Let me look."},
                                {"type": "tool_use", "id": "call_a", "name": "read", "input": {"path": "a.py"}},
                                {"type": "tool_use", "id": "call_b", "name": "grep", "input": {"q": "x"}}]
    assert reply["usage"]["input_tokens"] == 120 and reply["usage"]["output_tokens"] == 30
    assert calls[0].wire_request == body and calls[0].request["messages"] == sent["messages"]


def test_the_scripted_model_answers_claude_style_tool_definitions(mini_pack):
    calls = []
    scenario = load_scenario(mini_pack)
    backend = ScriptedBackend(ModelSpec(id="scripted", backend="scripted", policy="comply"))
    tools = [{"name": n, "input_schema": {"type": "object"}} for n in ("write_file", "edit_file")]

    async def go():
        async with Gateway(recorder=calls.append) as gw:
            r = gw.open_route(backend, attempt_id=1, context=ScriptContext(scenario, scenario.sides[0]))
            r.step = 1
            async with httpx.AsyncClient() as c:
                return await c.post(f"{gw.base_url}/r/{r.token}/v1/messages",
                                    json={"max_tokens": 10, "messages": USER, "tools": tools, "stream": True})
    evs = events(run(go()).text)
    tool = next(d["content_block"] for n, d in evs if n == "content_block_start")
    assert tool["type"] == "tool_use" and tool["name"] in ("write_file", "edit_file")
    args = "".join(d["delta"]["partial_json"] for n, d in evs if n == "content_block_delta")
    assert json.loads(args)["path"]
    assert evs[-1][0] == "message_stop" and calls[0].prompt_tokens > 0


def anthropic_error(resp, status: int, kind: str) -> str:
    assert resp.status_code == status
    body = resp.json()
    assert body["type"] == "error" and body["error"]["type"] == kind
    return body["error"]["message"]


def test_refusals_come_in_anthropics_error_shape_and_are_recorded():
    calls = []
    ok = {"max_tokens": 10, "messages": USER}
    responses = serve(Fixed(split_reply()), calls, [
        {"messages": USER},  # no max_tokens
        {"max_tokens": 10, "messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]},
        {"max_tokens": 10, "messages": USER, "tools": [{"type": "web_search_20250305", "name": "web_search"}]},
        b"[" * 100 + b"]" * 100,
        b"x" * 3000,
        ok, ok,  # the first spends the budget, the second is refused
    ], limits=GatewayLimits(max_body_bytes=2000), budget=TokenBudget(step_tokens=100))
    assert "max_tokens" in anthropic_error(responses[0], 400, "invalid_request_error")
    assert "messages.0.content.0.type" in anthropic_error(responses[1], 400, "invalid_request_error")
    assert "tools.0" in anthropic_error(responses[2], 400, "invalid_request_error")
    assert "deeper" in anthropic_error(responses[3], 400, "invalid_request_error")
    assert "limit of 2000 bytes" in anthropic_error(responses[4], 413, "request_too_large")
    assert responses[5].status_code == 200
    assert "budget" in anthropic_error(responses[6], 402, "billing_error")
    assert [c.status for c in calls] == [400, 400, 400, 400, 413, 200, 402]
    assert {c.protocol for c in calls} == {"anthropic_messages"}
    assert (calls[0].request, calls[0].wire_request) == (None, {"messages": USER})  # refused before translation
    assert calls[5].request["max_tokens"] == 10 and calls[5].wire_request == ok


def test_an_unknown_token_is_an_authentication_error():
    async def go():
        async with Gateway() as gw, httpx.AsyncClient() as c:
            return await c.post(f"{gw.base_url}/r/gd-nope/v1/messages", json={"max_tokens": 1, "messages": USER})
    anthropic_error(run(go()), 401, "authentication_error")


def test_backend_failures_are_api_errors_and_a_broken_stream_never_ends_with_message_stop():
    calls = []
    (plain,) = serve(Fixed([], BackendError("upstream unreachable")), calls, [{"max_tokens": 5, "messages": USER}])
    assert "unreachable" in anthropic_error(plain, 502, "api_error")
    cut = split_reply()[:5]  # a stream that stops inside a tool call, without a finish reason
    (streamed,) = serve(Fixed(cut), calls, [{"max_tokens": 5, "messages": USER, "stream": True}])
    evs = events(streamed.text)
    assert evs[-1][0] == "error" and evs[-1][1]["error"]["type"] == "api_error"
    assert "message_stop" not in [n for n, _ in evs] and "message_delta" not in [n for n, _ in evs]
    assert [c.status for c in calls] == [502, 502]


def test_interleaved_tool_call_arguments_fail_a_stream_but_not_a_plain_reply():
    c = "chatcmpl-2"
    interleaved = [chunk(c, "m", {"tool_calls": [{"index": 0, "id": "a", "function": {"name": "x", "arguments": "{"}}]}),
                   chunk(c, "m", {"tool_calls": [{"index": 1, "id": "b", "function": {"name": "y", "arguments": "{"}}]}),
                   chunk(c, "m", {"tool_calls": [{"index": 0, "function": {"arguments": "}"}}]}),
                   chunk(c, "m", {}, "tool_calls")]
    calls = []
    streamed, plain = serve(Fixed(interleaved), calls, [{"max_tokens": 5, "messages": USER, "stream": True},
                                                        {"max_tokens": 5, "messages": USER}])
    assert events(streamed.text)[-1][0] == "error"
    assert [(b["name"], b["input"]) for b in plain.json()["content"]] == [("x", {}), ("y", {"_unparsed_arguments": "{"})]
    assert [c.status for c in calls] == [502, 200]


def test_count_tokens_is_an_estimate_that_grows_with_the_prompt_and_is_not_a_model_call():
    calls = []
    small, large, bad = serve(Fixed(split_reply()), calls, [
        {"messages": USER}, {"messages": USER, "system": "x" * 4000}, {"messages": "nope"}],
        path="/v1/messages/count_tokens?beta=true")
    assert small.json()["input_tokens"] >= 1
    assert large.json()["input_tokens"] >= small.json()["input_tokens"] + 1000  # ~4 characters a token
    anthropic_error(bad, 400, "invalid_request_error")
    assert calls == []


def test_a_client_that_hangs_up_is_recorded_as_499_and_the_backend_call_cancelled():
    calls, cancelled = [], []

    class Hung:
        name, model = "hung", "hung"

        async def aclose(self):
            return None

        async def stream(self, request, ctx):
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
            yield {}  # pragma: no cover

    async def go():
        async with Gateway(recorder=calls.append) as gw:
            r = gw.open_route(Hung())
            async with httpx.AsyncClient(timeout=0.5) as c:
                with pytest.raises(httpx.ReadTimeout):
                    await c.post(f"{gw.base_url}/r/{r.token}/v1/messages",
                                 json={"max_tokens": 5, "messages": USER, "stream": True})
            for _ in range(100):
                if calls:
                    break
                await asyncio.sleep(0.05)
    run(go())
    assert cancelled == [True] and [c.status for c in calls] == [499]


def test_the_official_anthropic_sdk_reads_replies_streams_counts_and_errors():
    anthropic = pytest.importorskip("anthropic")
    calls = []

    async def go():
        async with Gateway(recorder=calls.append) as gw:
            r = gw.open_route(Fixed(split_reply()), budget=TokenBudget(step_tokens=300))  # two calls of 150
            client = anthropic.AsyncAnthropic(base_url=f"{gw.base_url}/r/{r.token}", api_key="unused",
                                              max_retries=0)
            tools = [{"name": "read", "input_schema": {"type": "object"}}]
            plain = await client.messages.create(model="claude-x", max_tokens=50, messages=USER, tools=tools)
            async with client.messages.stream(model="claude-x", max_tokens=50, messages=USER, tools=tools) as s:
                texts = [t async for t in s.text_stream]
                streamed = await s.get_final_message()
            counted = await client.messages.count_tokens(model="claude-x", messages=USER)
            with pytest.raises(anthropic.APIStatusError) as refused:
                await client.messages.create(model="claude-x", max_tokens=50, messages=USER)
            await client.close()
            return plain, texts, streamed, counted, refused.value

    plain, texts, streamed, counted, refused = run(go())
    for message in (plain, streamed):
        assert message.stop_reason == "tool_use" and message.usage.output_tokens == 30
        assert [b.type for b in message.content] == ["text", "tool_use", "tool_use"]
        assert message.content[1].input == {"path": "a.py"} and message.content[2].input == {"q": "x"}
    assert "".join(texts) == "Let me look." and counted.input_tokens >= 1
    assert refused.status_code == 402 and refused.body["error"]["type"] == "billing_error"
