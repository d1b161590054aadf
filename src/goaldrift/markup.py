"""Text that is never real file content: chat-template markup and bare placeholder tags.

Small models echo their prompt format or fill a slot with a placeholder instead of the real thing:
observed with the embedded 1.5B model were a module overwritten with the literal ``<tool_response>``
(builtin agent) and OpenCode's ``write`` called with the content ``<file-content>``. Neither is ever a
legitimate file, so both are refused wherever an agent's words become a file: the builtin agent's
file tools and whole-file replies (``agents/builtin.py``), and the local backend's decoding of tool
calls for any harness (``localmodel/engine.py``: a token that would produce them is never sampled).

- ``TEMPLATE_MARKUP``: ChatML / Qwen control text (``<|im_end|>``, ``<tool_call>``,
  ``<tool_response>``, ``<tools>`` and their closing forms) anywhere in the text.
- a *placeholder*: text made only of bare tags (``<file-content>``, ``<code></code>``) and whitespace.
  A real file with tags has something else too (attributes, text, a doctype), so this never refuses one.
- a *slot* opening a tool-call string (``refuse_slots``, checked by the local backend only): the value
  starts with an angle-bracketed phrase or path — ``<your code here>``, ``<crm/exports/churn_calls.py>``
  — which the 1.5B model put in front of (or instead of) the module it wrote through OpenCode's
  ``write``, leaving a file that does not parse. A tag with a space or a ``/`` or ``.`` inside its name
  and no attribute (``=``, quotes) is not how an HTML/XML file starts (``<html>``, ``<!DOCTYPE``,
  ``<?xml``, ``<div class="x">`` and ``<br/>`` all stay possible). A markdown fence (```` ``` ````)
  opening the value counts too: the model wrapped a module in one, which leaves the fence lines in the
  file (a Markdown file that starts with a code block cannot be written this way with the aid on).
"""

from __future__ import annotations

import re

TEMPLATE_MARKUP = re.compile(r"<\|[A-Za-z0-9_]{1,40}\|>|</?tool_(?:call|response)>|</?tools>")
_TAG = r"</?[A-Za-z_][\w.:-]{0,40}>"
_PLACEHOLDER = re.compile(rf"\s*(?:{_TAG}\s*)+")
# In the JSON text of a tool call: a string value made only of bare tags (JSON escapes whitespace).
_JSON_WS = r"(?:\s|\\[nrt])*"
_JSON_PLACEHOLDER = re.compile(rf'[:\[,]\s*"{_JSON_WS}(?:{_TAG}{_JSON_WS})+"')
_SLOT = r"<[A-Za-z_][\w-]*(?:[ /.][\w-][^<>=\"'\\\n]*)+>"
_JSON_SLOT = re.compile(rf'[:\[,]\s*"{_JSON_WS}(?:{_SLOT}|```)')


def not_content(text: str) -> str | None:
    """What makes ``text`` unusable as file content (a sentence), or ``None`` if it may be a file."""
    token = TEMPLATE_MARKUP.search(text)
    if token:
        return f"it contains {token.group(0)!r}, which is chat-template markup"
    if _PLACEHOLDER.fullmatch(text):
        return f"it is only the placeholder {text.strip()[:60]!r}"
    return None


def completes_forbidden(before: str, piece: str, *, slots: bool = False) -> bool:
    """Whether appending ``piece`` to the JSON text of a tool call being decoded completes markup or
    a placeholder string value (with ``slots``: or a slot opening a string value). Checked for every
    token, so only matches ending in ``piece`` count."""
    head = before[-120:]
    window = head + piece
    patterns = (TEMPLATE_MARKUP, _JSON_PLACEHOLDER, _JSON_SLOT) if slots else (TEMPLATE_MARKUP, _JSON_PLACEHOLDER)
    return any(m.end() > len(head) for pattern in patterns for m in pattern.finditer(window))
