"""OpenAI Responses on the gateway: event order, function calls both ways, previous_response_id, errors, bounds."""

import asyncio
import json

import httpx
import pytest

from goaldrift.errors import BackendError
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.base import TokenBudget
from goaldrift.gateway.backends.scripted import ScriptContext, ScriptedBackend
from goaldrift.gateway.chunks import chunk, message_chunks, tool_call, usage
from goaldrift.gateway.limits import GatewayLimits
from goaldrift.gateway.protocols.responses import KEPT_RESPONSES
from goaldrift.modelspec import ModelSpec
from goaldrift.scenario import load_scenario


def run(coro):
    return asyncio.run(coro)


def events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        assert lines["event"] == data["type"]
        out.append((lines["event"], data))
    assert [d["sequence_number"] for _, d in out] == list(range(1, len(out) + 1))
    return out


def split_reply(finish: str = "tool_calls") -> list[dict]:
    c = "chatcmpl-1"
    return [
        chunk(c, "m", {"role": "assistant", "content": ""}),
        chunk(c, "m", {"content": "Checking "}),
        chunk(c, "m", {"content": "the file."}),
        chunk(c, "m", {"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                                       "function": {"name": "shell", "arguments": ""}}]}),
        chunk(c, "m", {"tool_calls": [{"index": 0, "function": {"arguments": '{"cmd": ['}}]}),
        chunk(c, "m", {"tool_calls": [{"index": 0, "function": {"arguments": '"ls"]}'}}]}),
        chunk(c, "m", {}, finish),
        {**chunk(c, "m", {}, usage=usage(200, 40)), "choices": []},
    ]


class Fixed:
    name, model = "fixed", "fixed-model"

    def __init__(self, chunks, fail=None):
        self.chunks, self.fail, self.requests = chunks, fail, []

    async def aclose(self):
        return None

    async def stream(self, request, ctx):
        self.requests.append(request)
        for c in (self.chunks() if callable(self.chunks) else self.chunks):
            yield c
        if self.fail:
            raise self.fail


def serve(backend, calls, requests, *, limits=None, budget=None, routes=1):
    """Post each (route number, body or bytes) to /v1/responses on ``routes`` routes of one gateway."""
    async def go():
        async with Gateway(recorder=calls.append, limits=limits) as gw:
            bases = []
            for _ in range(routes):
                r = gw.open_route(backend, attempt_id=1, budget=budget)
                r.step = 1
                bases.append(f"{gw.base_url}/r/{r.token}/v1/responses")
            async with httpx.AsyncClient() as c:
                out = []
                for n, b in requests:
                    out.append(await (c.post(bases[n], content=b) if isinstance(b, bytes) else c.post(bases[n], json=b)))
                return out
    return run(go())


def test_a_streamed_reply_follows_the_responses_event_sequence_with_split_arguments_reassembled():
    calls = []
    (resp,) = serve(Fixed(split_reply()), calls, [(0, {"model": "gpt-x", "input": "hi", "stream": True})])
    assert resp.status_code == 200
    evs = events(resp.text)
    assert [n for n, _ in evs] == [
        "response.created", "response.in_progress",
        "response.output_item.added", "response.content_part.added",
        "response.output_text.delta", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.completed"]
    args = "".join(d["delta"] for n, d in evs if n == "response.function_call_arguments.delta")
    assert json.loads(args) == {"cmd": ["ls"]}
    added = [d["item"] for n, d in evs if n == "response.output_item.added"]
    done = [d["item"] for n, d in evs if n == "response.output_item.done"]
    assert [i["id"] for i in added] == [i["id"] for i in done]  # one id per item throughout
    assert done[1] == {"type": "function_call", "id": done[1]["id"], "call_id": "call_a", "name": "shell",
                       "arguments": '{"cmd": ["ls"]}', "status": "completed"}
    final = evs[-1][1]["response"]
    assert final["status"] == "completed" and final["id"] == evs[0][1]["response"]["id"]
    assert final["output"] == done
    assert final["usage"]["input_tokens"] == 200 and final["usage"]["output_tokens"] == 40
    assert final["usage"]["total_tokens"] == 240
    (rec,) = calls
    assert (rec.protocol, rec.status, rec.prompt_tokens, rec.completion_tokens) == ("responses", 200, 200, 40)
    assert rec.wire_request["input"] == "hi" and rec.request["messages"] == [{"role": "user", "content": "hi"}]


def test_instructions_function_calls_and_their_outputs_translate_without_a_stream():
    calls = []
    backend = Fixed(split_reply())
    body = {
        "model": "gpt-x", "instructions": "Obey AGENTS.md.", "max_output_tokens": 99, "store": False,
        "reasoning": {"effort": "high"}, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "k",
        "tools": [{"type": "function", "name": "shell", "description": "run", "parameters": {"type": "object"}},
                  {"type": "web_search"}],
        "tool_choice": "auto", "parallel_tool_calls": False,
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "input_text", "text": "list files"}]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "opaque"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Sure."}]},
            {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": '{"cmd": ["ls"]}'},
            {"type": "function_call", "call_id": "call_2", "name": "shell", "arguments": '{"cmd": ["pwd"]}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "a.py"},
            {"type": "function_call_output", "call_id": "call_2", "output": "/w"},
        ],
    }
    (resp,) = serve(backend, calls, [(0, body)])
    assert resp.status_code == 200
    sent = backend.requests[0]
    assert sent["messages"] == [
        {"role": "system", "content": "Obey AGENTS.md."},
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": "Sure.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": '{"cmd": ["ls"]}'}},
            {"id": "call_2", "type": "function", "function": {"name": "shell", "arguments": '{"cmd": ["pwd"]}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.py"},
        {"role": "tool", "tool_call_id": "call_2", "content": "/w"},
    ]
    assert sent["tools"] == [{"type": "function", "function": {"name": "shell", "description": "run",
                                                                "parameters": {"type": "object"}}}]
    assert (sent["max_tokens"], sent["parallel_tool_calls"], sent["tool_choice"]) == (99, False, "auto")
    assert not {"reasoning", "include", "store", "prompt_cache_key", "input", "instructions"} & set(sent)
    reply = resp.json()
    assert reply["object"] == "response" and reply["status"] == "completed"
    assert [i["type"] for i in reply["output"]] == ["message", "function_call"]
    assert reply["output"][0]["content"][0] == {"type": "output_text", "text": "Checking the file.", "annotations": []}
    assert reply["output"][1]["call_id"] == "call_a" and reply["usage"]["total_tokens"] == 240
    assert calls[0].wire_request == body


def test_previous_response_id_continues_this_routes_conversation_only():
    calls = []
    backend = Fixed(split_reply())

    async def go():
        async with Gateway(recorder=calls.append) as gw:
            r1, r2 = gw.open_route(backend), gw.open_route(backend)
            async with httpx.AsyncClient() as c:
                url = f"{gw.base_url}/r/{r1.token}/v1/responses"
                first = (await c.post(url, json={"instructions": "Old.", "input": [
                    {"role": "developer", "content": "Be brief."}, {"role": "user", "content": "list files"}]})).json()
                follow = {"previous_response_id": first["id"], "instructions": "New.",
                          "input": [{"type": "function_call_output", "call_id": "call_a", "output": "a.py"}]}
                second = await c.post(url, json=follow)
                other = await c.post(f"{gw.base_url}/r/{r2.token}/v1/responses", json=follow)
                for _ in range(KEPT_RESPONSES):
                    await c.post(url, json={"input": "again"})
                evicted = await c.post(url, json=follow)
                return second, other, evicted
    second, other, evicted = run(go())
    assert second.status_code == 200 and second.json()["previous_response_id"]
    assert backend.requests[1]["messages"] == [
        {"role": "system", "content": "New."},  # instructions are not carried over; input items are
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "list files"},
        {"role": "assistant", "content": "Checking the file.", "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "shell", "arguments": '{"cmd": ["ls"]}'}}]},
        {"role": "tool", "tool_call_id": "call_a", "content": "a.py"},
    ]
    for refused in (other, evicted):
        assert refused.status_code == 400
        err = refused.json()["error"]
        assert err["code"] == "previous_response_not_found" and "whole conversation" in err["message"]


def test_the_scripted_model_answers_codex_style_function_tools(mini_pack):
    scenario = load_scenario(mini_pack)
    backend = ScriptedBackend(ModelSpec(id="scripted", backend="scripted", policy="comply"))
    tools = [{"type": "function", "name": n, "parameters": {"type": "object"}} for n in ("write_file", "edit_file")]

    async def go():
        async with Gateway() as gw:
            r = gw.open_route(backend, context=ScriptContext(scenario, scenario.sides[0]))
            r.step = 1
            async with httpx.AsyncClient() as c:
                return await c.post(f"{gw.base_url}/r/{r.token}/v1/responses",
                                    json={"input": "go", "tools": tools, "stream": True})
    evs = events(run(go()).text)
    call = next(d["item"] for n, d in evs if n == "response.output_item.done")
    assert call["type"] == "function_call" and call["name"] in ("write_file", "edit_file")
    assert json.loads(call["arguments"])["path"] and evs[-1][0] == "response.completed"


def openai_error(resp, status: int, kind: str) -> str:
    assert resp.status_code == status
    err = resp.json()["error"]
    assert err["type"] == kind and set(err) == {"message", "type", "param", "code"}
    return err["message"]


def test_refusals_come_in_the_responses_error_shape_and_are_recorded():
    calls = []
    ok = {"input": "hi"}
    responses = serve(Fixed(split_reply()), calls, [
        (0, {"input": 42}),
        (0, {"input": [{"type": "computer_call", "id": "c"}]}),
        (0, b"{" * 10),
        (0, b"x" * 3000),
        (0, ok), (0, ok),
    ], limits=GatewayLimits(max_body_bytes=2000), budget=TokenBudget(step_tokens=100))
    assert "input" in openai_error(responses[0], 400, "invalid_request_error")
    assert "input.0.type" in openai_error(responses[1], 400, "invalid_request_error")
    assert "not JSON" in openai_error(responses[2], 400, "invalid_request_error")
    assert "limit of 2000 bytes" in openai_error(responses[3], 413, "invalid_request_error")
    assert responses[4].status_code == 200
    assert "budget" in openai_error(responses[5], 402, "insufficient_quota")
    assert [c.status for c in calls] == [400, 400, 400, 413, 200, 402]

    async def unknown():
        async with Gateway() as gw, httpx.AsyncClient() as c:
            return await c.post(f"{gw.base_url}/r/gd-nope/v1/responses", json=ok)
    openai_error(run(unknown()), 401, "invalid_request_error")


def test_a_failed_stream_ends_with_response_failed_and_a_cut_reply_is_incomplete():
    calls = []
    broken = Fixed(lambda: message_chunks("m", content="partial", piece=3), BackendError("upstream reset"))
    (failed,) = serve(broken, calls, [(0, {"input": "hi", "stream": True})])
    evs = events(failed.text)
    assert evs[-1][0] == "response.failed" and "response.completed" not in [n for n, _ in evs]
    assert evs[-1][1]["response"]["error"]["message"] == "upstream reset"
    (cut,) = serve(Fixed(split_reply(finish="length")), calls, [(0, {"input": "hi", "stream": True})])
    final = events(cut.text)[-1]
    assert final[0] == "response.incomplete"
    assert final[1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    (plain,) = serve(Fixed([], BackendError("upstream unreachable")), calls, [(0, {"input": "hi"})])
    assert "unreachable" in openai_error(plain, 502, "upstream_error")
    assert [c.status for c in calls] == [502, 200, 502]


def test_a_tool_call_without_arguments_still_closes_its_item():
    calls = []
    chunks = list(message_chunks("m", tool_calls=[tool_call("noop", "")], usage_=usage(1, 1)))
    (resp,) = serve(Fixed(chunks), calls, [(0, {"input": "hi", "stream": True})])
    names = [n for n, _ in events(resp.text)]
    assert names[-4:] == ["response.output_item.added", "response.function_call_arguments.done",
                          "response.output_item.done", "response.completed"]


def test_the_official_openai_sdk_reads_responses_streams_and_errors():
    openai = pytest.importorskip("openai")

    async def go():
        async with Gateway() as gw:
            r = gw.open_route(Fixed(split_reply()))
            client = openai.AsyncOpenAI(base_url=f"{gw.base_url}/r/{r.token}/v1", api_key="unused", max_retries=0)
            tools = [{"type": "function", "name": "shell", "parameters": {"type": "object"}}]
            plain = await client.responses.create(model="gpt-x", input="hi", tools=tools)
            async with client.responses.stream(model="gpt-x", input="hi", tools=tools) as s:
                deltas = [e.delta async for e in s if e.type == "response.output_text.delta"]
                streamed = await s.get_final_response()
            with pytest.raises(openai.BadRequestError) as refused:
                await client.responses.create(model="gpt-x", input="hi", previous_response_id="resp_unknown")
            await client.close()
            return plain, deltas, streamed, refused.value

    plain, deltas, streamed, refused = run(go())
    for response in (plain, streamed):
        assert response.status == "completed" and response.output_text == "Checking the file."
        call = response.output[1]
        assert call.type == "function_call" and json.loads(call.arguments) == {"cmd": ["ls"]}
        assert response.usage.total_tokens == 240
    assert "".join(deltas) == "Checking the file."
    assert refused.code == "previous_response_not_found"
