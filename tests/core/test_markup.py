"""What is never file content (``goaldrift.markup``): template markup and bare placeholder tags,
judged on a whole text (builtin agent) and token by token on a tool call being decoded (local backend)."""

from __future__ import annotations

import json

import pytest

from goaldrift.markup import completes_forbidden, not_content


@pytest.mark.parametrize("text", ["<file-content>", "  <code></code>\n", "</content>", "x = 1\n<|im_end|>",
                                  "<tool_response>\nok\n</tool_response>", "y = 2 <tools>"])
def test_markup_and_placeholders_are_not_content(text):
    assert not_content(text)


@pytest.mark.parametrize("text", ["x = 1\n", "<template>\n  <div>{{ x }}</div>\n</template>\n",
                                  "<!DOCTYPE html>\n<html></html>\n", "if a <b and c> d:\n    pass\n",
                                  "<div class='x'></div>", "xs = list[int]  # <T>\n"])
def test_real_files_with_angle_brackets_are_content(text):
    assert not_content(text) is None


def feed(text: str, step: int = 3) -> int | None:
    """Decode ``text`` in pieces of ``step`` characters; the index of the first piece vetoed."""
    done = ""
    for i in range(0, len(text), step):
        piece = text[i:i + step]
        if completes_forbidden(done, piece):
            return i
        done += piece
    return None


def test_a_placeholder_argument_is_vetoed_when_its_string_closes():
    call = '{"name": "write", "arguments": {"filePath": "a.py", "content": "<file-content>"}}'
    at = feed(call, 1)
    assert at == call.index('>"') + 1  # the closing quote, not earlier
    escaped = json.dumps({"content": "<file-content>\n</file-content>\n"})
    assert feed(escaped, 1) is not None


def test_markup_is_vetoed_where_it_is_completed_and_real_code_is_not():
    assert feed('{"content": "x = 1\\n<tool_response>"}', 4) is not None
    assert feed('{"content": "<|im_start|>user"}', 5) is not None
    real = json.dumps({"filePath": "crm/x.py", "content": "def f(rows):\n    return [r for r in rows if r['n'] < 3]\n",
                       "oldString": "<b>bold</b>", "newString": "<template>\n<p>x</p>\n</template>"})
    assert feed(real, 1) is None and feed(real, 7) is None


@pytest.mark.parametrize("value", ["<your code here>\n", "<crm/exports/churn_calls.py>\n\nfrom crm import x\n",
                                   "\n<module.py>\nimport os\n", "```python\nx = 1\n```"])
def test_a_slot_opening_a_string_is_vetoed_only_when_asked(value):
    call = json.dumps({"content": value, "filePath": "/repo/a.py"})

    def first_veto(slots: bool) -> int | None:
        return next((i for i in range(len(call)) if completes_forbidden(call[:i], call[i], slots=slots)), None)

    assert first_veto(False) is None
    assert call[first_veto(True)] in ">`"  # where the slot's tag closes, or the fence's third backtick


@pytest.mark.parametrize("value", ["<html>\n<body>hi</body>", "<!DOCTYPE html>", '<div class="x">', "<br/>",
                                   "<?xml version='1.0'?>", "x = '<a b>'\n", "def f():\n    return '<your code>'\n",
                                   "# Notes\n```python\nx = 1\n```\n", "`x` is set"])
def test_files_that_start_with_a_real_tag_or_hold_one_later_are_not_slots(value):
    call = json.dumps({"content": value})
    assert not any(completes_forbidden(call[:i], call[i], slots=True) for i in range(len(call)))
