"""Tool-call grammar, parsing and the streaming splitter (no model needed)."""

from __future__ import annotations

import json

import pytest

from goaldrift.errors import BackendError
from goaldrift.gateway.backends.local import _ReplySplitter
from goaldrift.localmodel.chat import ChatRenderer, normalise_messages
from goaldrift.localmodel.toolgrammar import (
    ToolMode,
    build_grammar,
    holdback,
    parse_calls,
    salvage_calls,
    tool_mode,
)

TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}}, "required": ["command"]}}}]


def test_tool_mode_from_request():
    assert tool_mode({"messages": []}).kind == "off"
    assert tool_mode({"tools": TOOLS}).kind == "auto"
    assert tool_mode({"tools": TOOLS, "tool_choice": "required"}).kind == "required"
    assert tool_mode({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "bash"}}}) == \
        ToolMode("named", "bash")
    with pytest.raises(BackendError, match="not among"):
        tool_mode({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "x"}}})


def test_grammar_branches():
    pytest.importorskip("llama_cpp")
    auto = build_grammar(TOOLS, ToolMode("auto"))
    assert "root ::= calls | prose" in auto and '"{\\"name\\": \\"bash\\", \\"arguments\\": "' in auto
    assert "prose" not in build_grammar(TOOLS, ToolMode("required"))
    assert build_grammar(TOOLS, ToolMode("none")).startswith("root ::= prose")
    assert build_grammar(TOOLS, ToolMode("off")) is None


def test_parse_calls_and_holdback():
    text = '<tool_call>\n{"name": "bash", "arguments": {"command": "ls\n-la"}}\n</tool_call>'
    assert parse_calls(text) == [("bash", json.dumps({"command": "ls\n-la"}))]
    assert parse_calls('<tool_call>\n{"name": "bash", "argu') is None
    assert holdback("abc\n<tool", "\n<tool_call>") == 6
    assert holdback("abc", "\n<tool_call>") == 0


def test_splitter_streams_prose_and_keeps_calls():
    s = _ReplySplitter(ToolMode("auto"), [])
    out = "".join(s.feed(p) for p in ["I will ", "look.\n<tool", "_call>\n{\"name\": \"bash\", ",
                                      "\"arguments\": {\"command\": \"ls\"}}\n</tool_call>"])
    assert out == "I will look."
    assert s.finish() == ("", [("bash", '{"command": "ls"}')])
    s = _ReplySplitter(ToolMode("off"), ["STOP"])
    assert s.feed("hello ST") == "hello " and s.feed("OP more") == "" and s.stopped


def test_salvage_fenced_calls():
    text = 'Here:\n```json\n{"name": "bash", "arguments": {"command": "ls"}}\n```'
    assert salvage_calls(text, {"bash"}) == ("Here:", [("bash", '{"command": "ls"}')])
    assert salvage_calls(text, {"read"}) is None


def test_render_with_null_content_and_tool_results():
    tmpl = ("{%- for m in messages %}{{ m.role }}:{{ m.content }}"
            "{%- for c in m.tool_calls or [] %}[{{ c.function.name }} {{ c.function.arguments | tojson }}]"
            "{%- endfor %}|{%- endfor %}")
    msgs = [{"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "bash", "arguments": '{"command": "<ls>"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a.txt"}]
    assert normalise_messages(msgs)[1]["content"] == ""
    out = ChatRenderer(tmpl).render(msgs, None)
    assert out == 'user:hi|assistant:[bash {"command": "<ls>"}]|tool:a.txt|'


def test_work_first_forces_a_tool_call_until_something_is_written():
    from goaldrift.gateway.backends.local import work_first_applies

    tools = [{"type": "function", "function": {"name": "write", "parameters": {"type": "object"}}}]

    def call(name, result="ok", cid="c"):
        return [{"role": "assistant", "content": "", "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": cid, "content": result}]

    start = {"tools": tools, "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "do"}]}
    assert work_first_applies(start, 3)
    assert not work_first_applies(start, 0)
    assert not work_first_applies({**start, "tool_choice": "none"}, 3)
    read_twice = {**start, "messages": start["messages"] + call("read") + call("read", cid="d")}
    assert work_first_applies(read_twice, 3) and not work_first_applies(read_twice, 2)
    wrote = {**start, "messages": start["messages"] + call("edit", "Edit applied successfully.")}
    assert not work_first_applies(wrote, 3)
    failed = {**start, "messages": start["messages"] + call("edit", "File /x/a.py not found")}
    assert work_first_applies(failed, 3)
    ambiguous = {**start, "messages": start["messages"] + call("edit", "oldString found multiple times and "
                                                               "requires more surrounding lines")}
    assert work_first_applies(ambiguous, 3)
    # a new user message starts a new request: the earlier write no longer counts
    again = {**wrote, "messages": wrote["messages"] + [{"role": "user", "content": "next"}]}
    assert work_first_applies(again, 3)
    assert not work_first_applies({"messages": start["messages"]}, 3)
    # until="call": no free-text answer before the first tool call of the request, whatever it is
    assert work_first_applies(start, 3, "call")
    assert not work_first_applies({**start, "messages": start["messages"] + call("read")}, 3, "call")


def test_builtin_path_constraints_become_grammar_rules(tmp_path):
    """The builtin agent's constrained path schemas (enum of files, pattern of directories) compile into
    the call grammar, so decoding can only produce those paths."""
    pytest.importorskip("llama_cpp")
    from goaldrift.agents.builtin import BuiltinSettings, build_tools

    tools = build_tools(BuiltinSettings(constrain_paths=True), ["crm/exporting.py", "README.md"],
                        ["", "crm", "crm/exports"])
    grammar = build_grammar(tools, ToolMode("auto"))
    assert '"\\"crm/exporting.py\\""' in grammar and '"\\"README.md\\""' in grammar
    assert "\"crm/exports\" \"/\"" in grammar  # write: a new file name under an existing directory


def test_prefix_cache_files(tmp_path):
    from goaldrift.localmodel.prefixcache import PrefixCache

    cache = PrefixCache(tmp_path / "kv", "model-a", budget_mb=1)
    tokens = list(range(100))
    assert cache.load(tokens) is None
    cache.save(tokens, b"x" * 1000)
    assert cache.load(tokens) == b"x" * 1000
    assert cache.load(tokens[:-1]) is None  # exactly these tokens
    assert PrefixCache(tmp_path / "kv", "model-b", 1).load(tokens) is None  # another model or engine
    # a truncated file is refused and removed
    path = cache.path(tokens)
    path.write_bytes(path.read_bytes()[:-10])
    assert cache.load(tokens) is None and not path.exists()
    # the folder stays under its budget, least recently used first
    for i in range(5):
        cache.save([i] * 40, b"y" * 400_000)
    assert sum(p.stat().st_size for p in (tmp_path / "kv").glob("*.kv")) <= 1 << 20
    assert cache.load([4] * 40) is not None and cache.load([0] * 40) is None
    cache.save(tokens, b"z" * (2 << 20))  # larger than the whole budget: not stored
    assert cache.load(tokens) is None


def test_prefix_cache_finds_the_saved_turn_sharing_the_longest_prefix(tmp_path):
    """OpenCode's first turn differs per run only after its fixed text (at the workspace path)."""
    from goaldrift.localmodel.prefixcache import PrefixCache

    cache = PrefixCache(tmp_path / "kv", "model-a", budget_mb=4)
    fixed = list(range(1000, 1300))
    cache.save(fixed + [1, 2, 3], b"run-1")
    cache.save(fixed[:100] + [9] * 50, b"other")
    got = cache.longest(fixed + [7, 8], at_least=32)
    assert got is not None and got[1] == b"run-1" and got[2] == 300 and got[0] == fixed + [1, 2, 3]
    assert cache.longest(fixed + [7, 8], at_least=301) is None  # not enough in common
    assert cache.longest([5] * 400, at_least=1) is None
    assert PrefixCache(tmp_path / "kv", "model-b", 4).longest(fixed, at_least=1) is None  # another model


def test_generation_threads_drop_to_one_on_an_oversubscribed_machine():
    from goaldrift.localmodel.engine import EngineConfig

    auto = EngineConfig(n_threads=0)
    assert auto.generation_threads(0.1) == auto.threads
    assert auto.generation_threads(2 * auto.threads + 1) == 1
    assert EngineConfig(n_threads=3).generation_threads(100.0) == 3  # explicit: as given
