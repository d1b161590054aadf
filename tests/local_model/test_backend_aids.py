"""The local backend's tool aids with a scripted engine in place of llama.cpp (no model needed).

The engine records what the backend renders and which grammar it decodes under, and replies with a
scripted text, so these tests check the wiring: hidden tools are neither rendered nor callable, path
constraints reach the grammar but not the prompt, a repeated failing call is rendered with a note,
and every aid is recorded with the call.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest

from goaldrift.gateway.backends.base import CallContext, ModelRoute
from goaldrift.gateway.chunks import assemble
from goaldrift.localmodel.engine import GenStats
from goaldrift.localmodel.repeats import NOTE, with_repeat_notes
from goaldrift.modelspec import ModelSpec

pytest.importorskip("llama_cpp")  # the grammar is built with llama.cpp's schema converter


class ScriptedEngine:
    """Stands in for ``LocalEngine``: renders like a template would (enough to inspect), replies with
    the next scripted text, records the rendered prompt and the grammar."""

    def __init__(self, _path, config, _prefix=None):
        self.config = config
        self.lock = threading.Lock()
        self.replies: list[str] = []
        self.seen: list[tuple[str, str | None]] = []

    def single_token(self, _text):
        return None

    def render(self, messages, tools):
        return json.dumps({"messages": messages, "tools": tools})

    def tokenize(self, text):
        return [len(text)]

    def generate(self, slot, prompt, grammar, sampling, on_text, cancel=None, veto=None):
        self.seen.append((self.last_render, grammar))
        on_text(self.replies.pop(0))
        return GenStats(prompt_tokens=1, completion_tokens=1)

    def close(self):
        pass


@pytest.fixture
def backend(monkeypatch, tmp_path):
    from goaldrift.gateway.backends import local

    monkeypatch.setattr(local, "resolve_model", lambda *_a, **_k: tmp_path / "m.gguf")
    monkeypatch.setattr(local, "LocalEngine", ScriptedEngine)
    original = ScriptedEngine.render

    def render(self, messages, tools):
        self.last_render = original(self, messages, tools)
        return self.last_render

    monkeypatch.setattr(ScriptedEngine, "render", render)

    def make(**params):
        return local.LocalBackend(ModelSpec(id="s", backend="local", params={"prefix_cache_mb": 0, **params}))

    return make


def tool(name, **props):
    return {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": props, "required": list(props)}}}


ABS = {"type": "string", "description": "The absolute path to the file"}
TOOLS = [tool("read", filePath=ABS), tool("edit", filePath=ABS, oldString={"type": "string"},
                                            newString={"type": "string"}),
         tool("write", filePath=ABS, content={"type": "string"})]


def call(b, messages, workspace: Path | None = None):
    route = ModelRoute(token="t", model_id="s", context=SimpleNamespace(workspace=workspace))

    async def go():
        return [c async for c in b.stream({"messages": messages, "tools": TOOLS}, CallContext(route))]

    return assemble(asyncio.run(go()))


def test_hidden_tools_and_constrained_paths(backend, tmp_path):
    repo = tmp_path / "repo"
    (repo / "crm").mkdir(parents=True)
    (repo / "crm" / "exporting.py").write_text("x = 1\n")
    b = backend(hidden_tools=["edit"], constrain_paths=True)
    b.engine.replies = ["ok"]
    resp = call(b, [{"role": "user", "content": "go"}], repo)
    rendered, grammar = b.engine.seen[0]
    assert [t["function"]["name"] for t in json.loads(rendered)["tools"]] == ["read", "write"]
    assert "enum" not in rendered and "pattern" not in rendered  # the prompt shows the tools as sent
    assert '\\"name\\": \\"write\\"' in grammar and '\\"name\\": \\"edit\\"' not in grammar
    assert "oldString" not in grammar and f"{repo}/crm/exporting.py" in grammar
    g = resp["goaldrift"]
    assert g["hidden_tools"] == ["edit"] and g["paths_constrained"] is True


def test_without_a_workspace_paths_stay_free(backend):
    b = backend(constrain_paths=True)
    b.engine.replies = ["done"]
    resp = call(b, [{"role": "user", "content": "go"}], None)
    assert resp["goaldrift"]["paths_constrained"] is False and "enum" not in (b.engine.seen[0][1] or "")


def failing_call(cid, path="/r/a.py"):
    return [{"role": "assistant", "content": "", "tool_calls": [{"id": cid, "type": "function", "function": {
        "name": "read", "arguments": json.dumps({"filePath": path})}}]},
        {"role": "tool", "tool_call_id": cid, "content": f"Error: File not found: {path}"}]


def test_a_repeated_failing_call_is_rendered_with_a_note(backend):
    history = [{"role": "user", "content": "go"}] + failing_call("a") + failing_call("b") + failing_call("c", "/r/b.py")
    messages, notes = with_repeat_notes(history)
    assert notes == 1 and messages[4]["content"].endswith(NOTE)
    assert not messages[2]["content"].endswith(NOTE) and not messages[6]["content"].endswith(NOTE)
    assert history[4]["content"].endswith("/r/a.py")  # the input is not changed
    # a new user message starts over: the earlier failures no longer count
    assert with_repeat_notes(history + [{"role": "user", "content": "again"}] + failing_call("d"))[1] == 0

    b = backend(repeat_note=True)
    b.engine.replies = ["I will write it instead."]
    resp = call(b, history)
    assert NOTE.strip() in b.engine.seen[0][0].replace("\\n", "\n") and resp["goaldrift"]["repeat_notes"] == 1
    off = backend()
    off.engine.replies = ["x"]
    assert call(off, history)["goaldrift"]["repeat_notes"] == 0 and NOTE.strip()[:30] not in off.engine.seen[0][0]
