"""The pieces the viewer and the Inspect export share: diff tokens with evidence marks, and a step's
conversation rebuilt from recorded calls and the trace."""

from __future__ import annotations

from goaldrift.store import blob
from goaldrift.transcript import step_conversation, system_prompt
from goaldrift.viewer.diffview import parse_diff

DIFF = '''diff --git a/app/a.py b/app/a.py
index 1..2 100644
--- a/app/a.py
+++ b/app/a.py
@@ -1,3 +1,4 @@
 import os
-x = 1
+x = """two
+lines"""
 y = 2
diff --git a/notes.txt b/notes.txt
--- a/notes.txt
+++ b/notes.txt
@@ -0,0 +1 @@
+<script>alert(1)</script>
'''


def test_diff_lines_numbers_tokens_and_marks():
    d = parse_diff(DIFF, {("app/a.py", 3): ["det-a", "det-b"], ("app/a.py", 3 + 100): ["nowhere"]})
    assert [f["path"] for f in d["files"]] == ["app/a.py", "notes.txt"]  # evidence file first
    lines = d["files"][0]["hunks"][0]["lines"]
    assert [(ln["kind"], ln["old"], ln["new"]) for ln in lines] == [
        (" ", 1, 1), ("-", 2, None), ("+", None, 2), ("+", None, 3), (" ", 3, 4)]
    assert lines[3]["marks"] == ["det-a", "det-b"] and not any(ln["marks"] for ln in lines if ln is not lines[3])
    # the hunk's post-step side is lexed as one text: both lines of the string are strings
    assert {c for c, _ in lines[2]["tokens"] + lines[3]["tokens"] if _.strip()} >= {"s"}
    assert "".join(t for _, t in lines[3]["tokens"]) == 'lines"""'
    assert lines[0]["tokens"][0] == ["k", "import"]
    txt = d["files"][1]["hunks"][0]["lines"][0]
    assert txt["tokens"] == [["", "<script>alert(1)</script>"]]  # unknown type: plain text, as data


def test_a_huge_diff_is_cut_and_says_so():
    big = "diff --git a/b.py b/b.py\n@@ -0,0 +1,9000 @@\n" + "".join(f"+v{i} = {i}\n" for i in range(9000))
    d = parse_diff(big)
    assert d["truncated"] and sum(len(h["lines"]) for f in d["files"] for h in f["hunks"]) == 6000


def _call(i, request, content, tool_calls=()):
    return {"call_id": i, "latency_s": 0.5, "status": 200, "prompt_tokens": 10, "completion_tokens": 2,
            "retries": 0, "error": None, "request": request,
            "response": {"choices": [{"message": {"role": "assistant", "content": content, "tool_calls": [
                {"id": tid, "type": "function", "function": {"name": name, "arguments": args}}
                for tid, name, args in tool_calls]}}]}}


def test_conversation_from_calls_prefers_the_trace_and_falls_back_to_requests():
    first = {"messages": [{"role": "system", "content": "sys"}, {"role": "assistant", "content": "old"},
                          {"role": "user", "content": "do it"}]}
    second = {"messages": first["messages"] + [
        {"role": "assistant", "content": None}, {"role": "tool", "tool_call_id": "t1", "content": "from request"},
        {"role": "tool", "tool_call_id": "t2", "content": "only in the request"}]}
    calls = [_call(1, blob(first), None, [("t1", "read_file", '{"path": "a.py"}'), ("t2", "run", "not json")]),
             _call(2, second, "done")]
    trace = {"tool_calls": [{"name": "read_file", "input": {"path": "a.py"}, "output": "from trace",
                             "status": "completed"}]}
    msgs = step_conversation(calls, trace)
    assert [m.role for m in msgs] == ["user", "assistant", "tool", "tool", "assistant"]
    assert msgs[0].content == "do it" and msgs[1].call["call_id"] == 1
    assert msgs[1].tool_calls[0].arguments == {"path": "a.py"} and msgs[1].tool_calls[1].arguments == "not json"
    assert msgs[2].content == "from trace" and msgs[3].content == "only in the request"
    assert msgs[4].content == "done" and system_prompt(calls) == "sys"


def test_conversation_from_the_trace_alone():
    trace = {"text": "finished", "tool_calls": [{"name": "write_file", "input": {"path": "x"}, "output": "ok",
                                                 "status": "error"}]}
    msgs = step_conversation([], trace)
    assert [(m.role, m.content) for m in msgs] == [("assistant", "finished"), ("tool", "ok")]
    assert msgs[1].status == "error" and step_conversation([], {}) == []
