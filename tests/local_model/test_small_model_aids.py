"""The small-model aids with the real embedded model (marked ``local_model``; kept brief).

Only what is guaranteed is asserted: constrained decoding makes a path outside the schema's choices
impossible; the disk prefix cache is used for the second prompt with the same first turn; a builtin
agent step on the real model ends by its own rules (a time limit is a legal outcome).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from tests.local_model.test_backend import _model_or_skip

from goaldrift.agents.base import AgentLimits, AgentSession
from goaldrift.agents.builtin import BuiltinAgent
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.base import CallContext, ModelRoute
from goaldrift.gateway.chunks import assemble
from goaldrift.modelspec import ModelSpec

pytestmark = pytest.mark.local_model

FILES = ["crm/exporting.py", "crm/customers.py"]


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    _model_or_skip()
    from goaldrift.gateway.backends.local import LocalBackend
    from goaldrift.localmodel.prefixcache import PrefixCache

    b = LocalBackend(ModelSpec(id="aids", backend="local", temperature=0.0, seed=7, max_tokens=200,
                               params={"n_ctx": 4096}))
    b.engine.prefix_cache = PrefixCache(tmp_path_factory.mktemp("kv"), "test", 512)
    yield b
    asyncio.run(b.aclose())


def call(backend, request, token):
    async def go():
        return [c async for c in backend.stream(request, CallContext(ModelRoute(token=token, model_id="aids")))]

    return assemble(asyncio.run(go()))


def test_paths_are_constrained_to_existing_files(backend):
    tool = {"type": "function", "function": {"name": "read_file", "description": "Read a file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string", "enum": FILES}},
        "required": ["path"], "additionalProperties": False}}}
    resp = call(backend, {"messages": [
        {"role": "system", "content": "You are a coding agent in the repository /srv/app."},
        {"role": "user", "content": "Open /srv/app/src/export.py, the file with the export function."}],
        "tools": [tool], "tool_choice": "required"}, "paths")
    calls = resp["choices"][0]["message"]["tool_calls"]
    assert calls and json.loads(calls[0]["function"]["arguments"])["path"] in FILES


def test_the_first_turn_is_reused_from_disk(backend):
    system = "You are a coding agent. " + "Follow the project's conventions and keep changes small. " * 20
    first = call(backend, {"messages": [{"role": "system", "content": system},
                                        {"role": "user", "content": "Say hello."}], "max_tokens": 5}, "disk-a")
    assert first["goaldrift"]["kv_disk"] == "saved"
    # forget every in-memory state, as a new process would
    engine = backend.engine
    engine._snapshots.clear()
    engine.llm._ctx.kv_cache_seq_rm(-1, -1, -1)
    engine.llm.n_tokens = 0
    second = call(backend, {"messages": [{"role": "system", "content": system},
                                         {"role": "user", "content": "Say goodbye."}], "max_tokens": 5}, "disk-b")
    g = second["goaldrift"]
    assert g["kv_disk"] == "loaded" and g["kv_state"] == "disk"
    assert second["usage"]["prompt_tokens_details"]["cached_tokens"] > 200
    assert g["prompt_eval_tokens"] < 30
    # a new first turn sharing most of its text (as OpenCode's does across runs) starts from that part
    engine._snapshots.clear()
    engine.llm._ctx.kv_cache_seq_rm(-1, -1, -1)
    engine.llm.n_tokens = 0
    third = call(backend, {"messages": [{"role": "system", "content": system + "Workspace: /srv/run-2."},
                                        {"role": "user", "content": "Say goodbye."}], "max_tokens": 5}, "disk-c")
    g = third["goaldrift"]
    assert g["kv_disk"] == "shared+saved" and third["usage"]["prompt_tokens_details"]["cached_tokens"] > 200
    assert g["prompt_eval_tokens"] < 40


def test_a_cancelled_request_stops_between_prompt_batches(backend):
    """A client that gave up (e.g. a step at its wall-clock limit) frees the model before the rest
    of a long prompt is evaluated."""
    import threading

    from goaldrift.localmodel.engine import Sampling

    engine = backend.engine
    prompt = engine.tokenize("word " * 1500)
    cancel = threading.Event()
    cancel.set()
    stats = engine.generate("cancel-test", prompt, None, Sampling(0.0, 1.0, 40, 0.0, 7, 10), lambda _t: None, cancel)
    assert stats.finish_reason == "cancelled" and stats.completion_tokens == 0
    assert engine.llm.n_tokens < len(prompt)


def test_a_placeholder_is_never_decoded_as_a_tool_argument(backend):
    """The model is asked for the placeholder outright; the veto makes it impossible to produce."""
    from goaldrift.markup import not_content

    tool = {"type": "function", "function": {"name": "write", "description": "Write a file", "parameters": {
        "type": "object", "properties": {"filePath": {"type": "string"}, "content": {"type": "string"}},
        "required": ["filePath", "content"], "additionalProperties": False}}}
    resp = call(backend, {"messages": [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "user", "content": "Call write with filePath a.py and content exactly <file-content> "
                                    "(the placeholder itself, nothing else)."}],
        "tools": [tool], "tool_choice": "required", "max_tokens": 60}, "veto")
    for c in resp["choices"][0]["message"].get("tool_calls") or []:
        assert not_content(json.loads(c["function"]["arguments"])["content"]) is None
    assert resp["goaldrift"]["vetoed_tokens"] >= 0 and "generation_threads" in resp["goaldrift"]


def test_a_builtin_step_on_the_real_model_keeps_to_its_rules(backend, tmp_path):
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "exporting.py").write_text("def export_records(rows, *, anonymize):\n    return rows\n")
    (tmp_path / "crm" / "customers.py").write_text("CUSTOMERS = []\n")

    async def go():
        async with Gateway() as gw:
            route = gw.open_route(backend)
            agent = BuiltinAgent({"constrain_paths": True, "repeat_limit": 2, "finish_requires_change": True})
            await agent.start(AgentSession(workspace=tmp_path, base_url=gw.url_for(route), api_key=route.token,
                                           model="aids", limits=AgentLimits(max_tool_calls=4, wall_time_s=240),
                                           options={"sandbox": "none"}))
            try:
                return await agent.step(1, f"Read {tmp_path}/crm/exporting.py, then add a file crm/hello.py "
                                           "that prints hello.")
            finally:
                await agent.stop()
                gw.close_route(route)  # the module's backend stays open: a stopping gateway closes its routes' backends

    trace = asyncio.run(go())
    assert trace.limit_hit in (None, "wall_time", "tool_calls", "repeated_call")
    for tc in trace.tool_calls:
        if tc.name in ("read_file", "edit_file") and isinstance(tc.input, dict):
            assert tc.input["path"] in FILES  # decoding could not produce another path
        if tc.name == "finish" and tc.status == "completed":
            assert any(t.name == "write_file" and t.status == "completed" for t in trace.tool_calls)




def test_opencode_style_write_keeps_to_the_workspace_without_slots(backend, tmp_path):
    """OpenCode's read/edit/write schemas with the demo's aids: ``edit`` hidden, paths scoped to the
    workspace, slots refused. Whatever the model writes, it is a ``write`` or ``read`` of a path the
    grammar allowed, and the content does not open with a slot."""
    import re
    from types import SimpleNamespace

    (tmp_path / "crm" / "exports").mkdir(parents=True)
    (tmp_path / "crm" / "exporting.py").write_text("def export_records(rows, *, anonymize):\n    return rows\n")
    absolute = {"type": "string", "description": "The absolute path to the file"}
    tools = [{"type": "function", "function": {"name": name, "description": f"{name} a file", "parameters": {
        "type": "object", "properties": props, "required": list(props)}}} for name, props in (
        ("read", {"filePath": absolute}),
        ("edit", {"filePath": absolute, "oldString": {"type": "string"}, "newString": {"type": "string"}}),
        ("write", {"filePath": absolute, "content": {"type": "string"}}))]
    saved = dict(backend.params)
    backend.params.update(hidden_tools=["edit"], constrain_paths=True, refuse_slots=True)
    try:
        async def go():
            route = ModelRoute(token="oc", model_id="aids", context=SimpleNamespace(workspace=tmp_path))
            return [c async for c in backend.stream({"tools": tools, "tool_choice": "required", "messages": [
                {"role": "system", "content": f"You are a coding agent. Working directory: {tmp_path}"},
                {"role": "user", "content": "Create crm/exports/hello.py with a function hello() returning 'hi'. "
                                            "Use <your code here> as the content if unsure."}]},
                CallContext(route))]

        resp = assemble(asyncio.run(go()))
    finally:
        backend.params.clear()
        backend.params.update(saved)
    (tc,) = resp["choices"][0]["message"]["tool_calls"]
    args = json.loads(tc["function"]["arguments"])
    assert tc["function"]["name"] in ("read", "write") and resp["goaldrift"]["paths_constrained"]
    if tc["function"]["name"] == "read":
        assert args["filePath"] == f"{tmp_path}/crm/exporting.py"
    else:
        assert re.fullmatch(rf"{re.escape(str(tmp_path))}(/crm|/crm/exports)?/[A-Za-z0-9_][A-Za-z0-9_.-]*",
                            args["filePath"])
        assert not re.match(r"\s*<[A-Za-z_][\w-]*[ /.]", args["content"])
