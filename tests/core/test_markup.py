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
