"""The anthropic backend against a fake Messages server on 127.0.0.1 (never the real network).

Same protocol (a Messages client): the body reaches the provider unchanged but for the model name, and
the provider's reply reaches the client unchanged (thinking blocks, signatures, cache usage), checked
with the official SDK's stream accumulator. Another protocol (chat completions): translated both ways.
Both: key only in the gateway, usage normalised, retries, errors in the client's own shape, records.
"""

import asyncio
import contextlib
import copy
import json

import anthropic
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tests.core.fake_upstream import serving

from goaldrift.errors import EndpointError, MissingKey
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends import create_backend
from goaldrift.gateway.backends.anthropic import AnthropicBackend, to_messages
from goaldrift.modelspec import AnthropicParams, ModelSpec

KEY = "sk-ant-test-key-only-in-the-gateway"
THINKING = {"type": "thinking", "thinking": "The user wants a file read.", "signature": "sig-abc=="}

# The history a Claude Code turn sends: a signed thinking block and a tool call in the assistant turn,
# cache_control marks on the system prompt and the last tool result.
HISTORY = [
    {"role": "user", "content": [{"type": "text", "text": "read a.py"}]},
    {"role": "assistant", "content": [THINKING, {"type": "tool_use", "id": "toolu_1", "name": "Read",
                                                 "input": {"file_path": "a.py"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "x = 1",
                                  "cache_control": {"type": "ephemeral"}}]},
]
BODY = {
    "model": "claude-as-the-harness-names-it", "max_tokens": 2000, "stream": True, "messages": HISTORY,
    "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
    "tools": [{"name": "Read", "description": "read a file",
               "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}}}],
    "thinking": {"type": "enabled", "budget_tokens": 1024}, "metadata": {"user_id": "u1"},
}


def provider_events(n: int) -> list[dict]:
    """A reply as Anthropic streams it: thinking (signed), text, a tool call in pieces."""
    return [
        {"type": "message_start", "message": {
            "id": f"msg_{n}", "type": "message", "role": "assistant", "model": "claude-fake-1-20260101",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 30, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200,
                      "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "",
                                                                      "signature": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Check "}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "b.py."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig-new"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "ping"},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": f"Reading ({n})."}},
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_2",
                                                                      "name": "Read", "input": {}}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": '{"file_'}},
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta",
                                                              "partial_json": 'path": "b.py"}'}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 42}},
        {"type": "message_stop"},
    ]


class FakeAnthropic:
    """A Messages server. ``cycle`` says how each request is answered in turn: ok, 429, 529, 400, 401,
    truncated (the stream stops after three events), overloaded (an ``error`` event first), hang (no
    answer for 3 s, longer than the tests' timeouts)."""

    def __init__(self, cycle: tuple[str, ...] = ("ok",)):
        self.cycle = cycle
        self.received: list[tuple[dict, dict]] = []  # (body, headers)
        self.app = Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"]),
                                     Route("/v1/models/{model}", self.model_info)])

    async def model_info(self, request: Request) -> Response:
        if request.headers.get("x-api-key") != KEY:
            return JSONResponse({"type": "error", "error": {"type": "authentication_error",
                                                            "message": "invalid x-api-key"}}, status_code=401)
        if request.path_params["model"] != "claude-fake-1":
            return JSONResponse({"type": "error", "error": {"type": "not_found_error",
                                                            "message": "model: nope"}}, status_code=404)
        return JSONResponse({"type": "model", "id": "claude-fake-1"})

    async def messages(self, request: Request) -> Response:
        n = len(self.received)
        self.received.append((json.loads(await request.body()), dict(request.headers)))
        kind = self.cycle[n % len(self.cycle)]
        if kind in ("429", "529", "400", "401"):
            kinds = {"429": "rate_limit_error", "529": "overloaded_error", "400": "invalid_request_error",
                     "401": "authentication_error"}
            return JSONResponse({"type": "error", "error": {"type": kinds[kind], "message": f"fault {kind}"}},
                                status_code=int(kind), headers={"retry-after": "0"})
        if kind == "hang":  # bounded: the server's shutdown ends it too
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), 3)
        events = provider_events(n)
        if kind == "truncated":
            events = events[:3]
        elif kind == "overloaded":
            events = [{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}]

        async def body():
            for e in events:
                yield f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()

        return StreamingResponse(body(), media_type="text/event-stream")

    @contextlib.asynccontextmanager
    async def running(self):
        async with serving(self.app, "the fake Anthropic server") as url:
            yield url


def spec(base_url: str, **over) -> ModelSpec:
    fields = {"id": "claude", "backend": "anthropic", "base_url": base_url, "model": "claude-fake-1",
              "api_key_env": "GD_TEST_ANTHROPIC_KEY", "timeout_s": 10, "max_retries": 3} | over
    return ModelSpec(**fields)


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("GD_TEST_ANTHROPIC_KEY", KEY)


def through_gateway(fake: FakeAnthropic, send, **spec_over):
    """Start the fake and a gateway whose route is served by the anthropic backend; ``send(base, token)``."""
    calls: list = []

    async def go():
        async with fake.running() as url, Gateway(recorder=calls.append) as gw:
            backend = AnthropicBackend(spec(url, **spec_over), backoff_s=0.001)
            route = gw.open_route(backend, attempt_id=1)
            route.step = 1
            return await send(f"{gw.base_url}/r/{route.token}", route.token)

    return asyncio.run(go()), calls


def test_a_messages_call_is_relayed_unchanged_and_the_provider_reply_comes_back_unchanged():
    fake = FakeAnthropic()

    async def send(base, token):
        sdk = anthropic.AsyncAnthropic(base_url=base, api_key="not-a-real-key", max_retries=0)
        async with sdk.messages.stream(**{k: v for k, v in BODY.items() if k != "stream"},
                                       extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"}) as s:
            streamed = await s.get_final_message()
        plain = await sdk.messages.create(**{**BODY, "stream": False})
        await sdk.close()
        return streamed, plain

    (streamed, plain), calls = through_gateway(fake, send)
    (sent, headers), (sent_plain, _) = fake.received
    # the body as the client sent it, only the model mapped to the entry's; stream is always on upstream
    assert sent == {**BODY, "model": "claude-fake-1", "stream": True}
    assert sent["messages"][1]["content"][0] == THINKING and sent["system"][0]["cache_control"]
    assert sent_plain == {**BODY, "model": "claude-fake-1", "stream": True}
    assert headers["x-api-key"] == KEY and headers["anthropic-beta"] == "interleaved-thinking-2025-05-14"
    assert "authorization" not in headers  # the route token never leaves the gateway
    for message in (streamed, plain):  # the provider's reply, thinking and signature included
        blocks = [b.model_dump(exclude_none=True) for b in message.content]
        assert blocks[0] == {"type": "thinking", "thinking": "Check b.py.", "signature": "sig-new"}
        assert blocks[2]["input"] == {"file_path": "b.py"} and message.stop_reason == "tool_use"
        assert message.usage.cache_read_input_tokens == 1000 and message.usage.output_tokens == 42
    first = calls[0]
    assert (first.protocol, first.backend, first.status, first.stream) == ("anthropic_messages", "anthropic", 200, True)
    assert first.wire_request == {k: v for k, v in BODY.items()}  # as the harness sent it
    assert first.request["messages"][0] == {"role": "system", "content": "You are Claude Code."}  # internal form
    assert first.wire_response["content"][0]["signature"] == "sig-new"
    # usage normalised: everything the model read, cache reads as cached tokens
    assert (first.prompt_tokens, first.completion_tokens) == (30 + 1000 + 200, 42)
    assert first.response["usage"]["prompt_tokens_details"] == {"cached_tokens": 1000}
    tool = first.response["choices"][0]["message"]["tool_calls"][0]
    assert tool["id"] == "toolu_2" and json.loads(tool["function"]["arguments"]) == {"file_path": "b.py"}
    assert calls[1].stream is False and calls[1].wire_response == first.wire_response | {
        "id": "msg_1", "content": calls[1].wire_response["content"]}


def test_the_relay_keeps_only_allowed_fields_and_refuses_server_tools_before_calling_out():
    fake = FakeAnthropic()
    extra = {**BODY, "stream": False, "mcp_servers": [{"type": "url", "url": "https://evil.example/mcp"}],
             "service_tier": "priority"}
    web = {**BODY, "tools": [{"type": "web_search_20250305", "name": "web_search"}]}

    async def send(base, token):
        async with httpx.AsyncClient(timeout=30) as c:
            return [await c.post(f"{base}/v1/messages", json=b) for b in (extra, web)]

    (kept, refused), calls = through_gateway(fake, send)
    assert kept.status_code == 200 and len(fake.received) == 1
    assert "mcp_servers" not in fake.received[0][0] and "service_tier" not in fake.received[0][0]
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
    assert "tools.0" in refused.json()["error"]["message"]
    assert calls[0].wire_request == extra  # the record keeps what the harness sent


def test_a_chat_call_to_a_claude_model_is_translated_both_ways():
    fake = FakeAnthropic()
    chat = {"model": "x", "stream": False, "max_tokens": 300, "temperature": 0.2, "stop": "END",
            "parallel_tool_calls": False, "tool_choice": "required",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "read a.py"},
                         {"role": "assistant", "content": None, "tool_calls": [
                             {"id": "call_1", "type": "function",
                              "function": {"name": "read", "arguments": '{"path": "a.py"}'}}]},
                         {"role": "tool", "tool_call_id": "call_1", "content": "x = 1"},
                         {"role": "user", "content": "and now?"}],
            "tools": [{"type": "function", "function": {"name": "read", "description": "read a file",
                                                        "parameters": {"type": "object"}}}]}

    async def send(base, token):
        async with httpx.AsyncClient(timeout=30) as c:
            return (await c.post(f"{base}/v1/chat/completions", json=chat)).json()

    reply, calls = through_gateway(fake, send)
    sent = fake.received[0][0]
    assert sent["system"] == "Be brief." and sent["max_tokens"] == 300 and sent["stop_sequences"] == ["END"]
    assert sent["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert sent["messages"][1] == {"role": "assistant", "content": [
        {"type": "tool_use", "id": "call_1", "name": "read", "input": {"path": "a.py"}}]}
    assert sent["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "x = 1"}, {"type": "text", "text": "and now?"}]}
    assert sent["tools"] == [{"name": "read", "description": "read a file", "input_schema": {"type": "object"}}]
    message = reply["choices"][0]["message"]
    assert message["content"] == "Reading (0)." and reply["choices"][0]["finish_reason"] == "tool_calls"
    assert json.loads(message["tool_calls"][0]["function"]["arguments"]) == {"file_path": "b.py"}
    assert reply["usage"]["prompt_tokens"] == 1230 and reply["usage"]["completion_tokens"] == 42
    assert calls[0].protocol == "chat_completions" and calls[0].wire_response is None


def test_a_responses_call_reaches_a_claude_model_through_two_translations():
    body = {"model": "x", "instructions": "Be brief.", "input": "read b.py", "stream": False,
            "tools": [{"type": "function", "name": "Read", "parameters": {"type": "object"}}]}

    async def send(base, token):
        async with httpx.AsyncClient(timeout=30) as c:
            return (await c.post(f"{base}/v1/responses", json=body)).json()

    fake = FakeAnthropic()
    reply, calls = through_gateway(fake, send)
    assert calls[0].request["messages"][0] == {"role": "system", "content": "Be brief."}  # the internal form
    sent = fake.received[0][0]  # and the provider's
    assert sent["system"] == "Be brief." and sent["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "read b.py"}]}]
    assert sent["tools"] == [{"name": "Read", "input_schema": {"type": "object"}}]
    assert [item["type"] for item in reply["output"]] == ["message", "function_call"]
    assert reply["output"][1]["arguments"] == '{"file_path": "b.py"}'
    assert reply["usage"]["input_tokens"] == 1230 and reply["usage"]["input_tokens_details"]["cached_tokens"] == 1000


def test_429_529_overloaded_events_and_truncated_streams_are_retried_then_the_call_succeeds():
    fake = FakeAnthropic(("429", "529", "overloaded", "truncated", "ok"))

    async def send(base, token):
        async with httpx.AsyncClient(timeout=30) as c:
            return await c.post(f"{base}/v1/messages", json={**BODY, "stream": False})

    resp, calls = through_gateway(fake, send, max_retries=4)
    assert resp.status_code == 200 and resp.json()["content"][1]["text"] == "Reading (4)."
    assert [line.split(":")[0] for line in calls[0].retry_log] == ["HTTP 429", "HTTP 529", "overloaded_error",
                                                                   "truncated"]
    assert "rate_limit_error: fault 429" in calls[0].retry_log[0]


def test_upstream_refusals_reach_the_client_in_its_own_error_shape():
    async def send(base, token):
        async with httpx.AsyncClient(timeout=30) as c:
            return [await c.post(f"{base}/v1/messages", json={**BODY, "stream": False}),
                    await c.post(f"{base}/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]})]

    (messages, chat), calls = through_gateway(FakeAnthropic(("400",)), send)
    assert messages.status_code == 502 and messages.json()["type"] == "error"
    assert "invalid_request_error: fault 400" in messages.json()["error"]["message"]
    assert chat.status_code == 502 and "invalid_request_error: fault 400" in chat.json()["error"]["message"]
    assert [c.retries for c in calls] == [0, 0]  # a bad request is not retried


def test_a_stream_that_breaks_after_output_is_an_error_event_not_a_retry():
    async def send(base, token):
        async with httpx.AsyncClient(timeout=30) as c:
            return await c.post(f"{base}/v1/messages", json=BODY)

    resp, calls = through_gateway(FakeAnthropic(("truncated",)), send)
    names = [line[7:] for line in resp.text.splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "content_block_delta"] and names[-1] == "error"
    assert calls[0].status == 502 and "mid-response" in calls[0].error


def test_a_hanging_upstream_is_a_timeout_retried_then_a_bounded_failure():
    async def send(base, token):
        async with httpx.AsyncClient(timeout=60) as c:
            return await c.post(f"{base}/v1/messages", json={**BODY, "stream": False})

    resp, calls = through_gateway(FakeAnthropic(("hang",)), send, timeout_s=0.5, max_retries=1)
    assert resp.status_code == 502 and resp.json()["error"]["type"] == "api_error"
    assert [line.split(":")[0] for line in calls[0].retry_log] == ["timeout", "timeout"]
    assert "failed after 2 tries" in calls[0].error


def test_the_key_is_required_and_the_probe_names_what_is_wrong(monkeypatch):
    fake = FakeAnthropic()

    async def probe(**over):
        async with fake.running() as url:
            backend = create_backend(spec(url, **over))
            try:
                await backend.probe()
            finally:
                await backend.aclose()

    asyncio.run(probe())  # a served model passes
    with pytest.raises(EndpointError, match="not_found_error: model: nope"):
        asyncio.run(probe(model="claude-nope"))
    monkeypatch.setenv("GD_TEST_ANTHROPIC_KEY", "wrong")
    with pytest.raises(EndpointError, match="rejected the key"):
        asyncio.run(probe())
    monkeypatch.delenv("GD_TEST_ANTHROPIC_KEY")
    with pytest.raises(MissingKey, match="GD_TEST_ANTHROPIC_KEY"):
        create_backend(spec("http://127.0.0.1:9"))


def test_translation_keeps_images_and_drops_what_messages_cannot_hold():
    chat = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBOR"}}]}],
        "seed": 3, "response_format": {"type": "json_object"}, "presence_penalty": 1}
    body = to_messages(copy.deepcopy(chat), spec("http://127.0.0.1:9"), AnthropicParams())
    assert body["messages"][0]["content"][1] == {"type": "image", "source": {
        "type": "base64", "media_type": "image/png", "data": "iVBOR"}}
    assert body["max_tokens"] == AnthropicParams().default_max_tokens
    assert not {"seed", "response_format", "presence_penalty"} & set(body)
