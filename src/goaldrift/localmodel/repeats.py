"""A corrective note on a repeated failing tool call (the local backend's ``repeat_note`` aid).

A weak model that gets an error back often sends the very same call again, and a harness such as
OpenCode answers it with the very same error until the step's limit: the wall clock burns and nothing
changes. The harness's tools are not ours to change, but what the model *reads* is: when a call
repeats, by name and arguments, an earlier call of the same request whose result was an error, the
repeated call's result is rendered with a note saying so and what to do instead. The harness's
record and the tool's real output stay untouched; the note is a pure function of the history, so
every later request renders that history identically and its KV cache still matches.

``repeated_failure`` counts the same thing for the gateway, whatever the backend: how often the
request's most repeated failing call was made since the latest user message. A harness that cannot
stop a stuck model itself (OpenCode answers the same error forever) ends its step on that count.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

NOTE = ("\n\n[note from the model server: this exact call already failed before with this result; repeating "
        "it will fail again. Change the arguments or use another tool.]")
_FAILED = re.compile(r"(?i)\b(error|not found|failed|no such file|must read|could not|cannot|multiple times)\b")


def failed(result: str) -> bool:
    """Whether a tool result reads as a failure (the harnesses' error wording)."""
    return bool(_FAILED.search(result))


def _key(call: dict[str, Any]) -> tuple[str, str]:
    fn = call.get("function") or {}
    args = fn.get("arguments")
    if isinstance(args, str):
        try:
            args = json.loads(args)
        except ValueError:
            pass
    return str(fn.get("name")), json.dumps(args, sort_keys=True)


def _failed_results(messages: list[dict[str, Any]]) -> Iterator[tuple[int, tuple[str, str], str]]:
    """``(index, key, text)`` of every tool result since the latest user message that reads as a
    failure, ``key`` being its call's name and arguments (the one walk both functions below make)."""
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    pending: dict[str, tuple[str, str]] = {}
    for i in range(last_user + 1, len(messages)):
        m = messages[i]
        if m.get("role") == "assistant":
            for call in m.get("tool_calls") or []:
                pending[str(call.get("id"))] = _key(call)
        elif m.get("role") == "tool" and str(m.get("tool_call_id")) in pending:
            key = pending.pop(str(m.get("tool_call_id")))
            content = m.get("content")
            if isinstance(content, list):  # content parts
                content = "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
            if isinstance(content, str) and failed(content):
                yield i, key, content


def with_repeat_notes(messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """``messages`` with the note appended to the result of every call that repeats an earlier failed
    call since the latest user message, and how many notes were added (the input is not changed)."""
    out = list(messages)
    failed_calls: set[tuple[str, str]] = set()
    notes = 0
    for i, key, content in _failed_results(messages):
        if not isinstance(messages[i].get("content"), str):
            continue  # a note is appended to text only
        if key in failed_calls:
            out[i] = {**messages[i], "content": content + NOTE}
            notes += 1
        failed_calls.add(key)
    return out, notes


def repeated_failure(messages: list[dict[str, Any]]) -> tuple[str | None, int]:
    """The tool name of the failing call (same name and arguments, a result that reads as a failure)
    made most often since the latest user message, and how often; ``(None, 0)`` if none failed."""
    counts = Counter(key for _, key, _ in _failed_results(messages))
    if not counts:
        return None, 0
    (name, _), n = counts.most_common(1)[0]
    return name, n
