"""A stored unified diff as data the browser can draw safely: files, hunks, lines, highlight tokens.

Why tokens and not HTML: the diff is the agent's code, i.e. hostile input. Pygments runs here, on the
server, and the browser gets ``[css class, text]`` pairs that it puts into ``<span>``s with
``textContent`` — no markup from the store ever reaches ``innerHTML``.

Each hunk's post-step side (context and added lines) is lexed as one text, and its removed lines as
another, so multi-line strings and comments colour correctly within a hunk. Evidence marks are by
post-step line number, which is what detectors report (``Decision.line``); files holding evidence
come first.
"""

from __future__ import annotations

import re
from typing import Any

from pygments.lexers import get_lexer_for_filename
from pygments.token import Comment, Keyword, Name, Number, Operator, String, _TokenType
from pygments.util import ClassNotFound

MAX_LINES = 6000  # per step; a bigger diff is cut (and says so)
MAX_LEX_CHARS = 200_000  # per hunk side; longer text (minified code, data) is shown without colours
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@(.*)$")
_CLASSES: list[tuple[_TokenType, str]] = [
    (Comment, "c"), (String, "s"), (Number, "n"), (Keyword, "k"), (Name.Function, "f"), (Name.Class, "f"),
    (Name.Builtin, "b"), (Name.Decorator, "b"), (Operator, "o"),
]


def _css(ttype: _TokenType) -> str:
    for parent, css in _CLASSES:
        if ttype in parent:
            return css
    return ""


def _lex(path: str, lines: list[str]) -> list[list[list[str]]]:
    """Token lists per line: [[css, text], ...]; plain text when no lexer knows the file type."""
    try:
        if sum(map(len, lines)) > MAX_LEX_CHARS:
            raise ClassNotFound(path)
        lexer = get_lexer_for_filename(path, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return [[["", ln]] for ln in lines]
    out: list[list[list[str]]] = [[]]
    for ttype, value in lexer.get_tokens("\n".join(lines)):
        css = _css(ttype)
        parts = value.split("\n")
        for i, part in enumerate(parts):
            if i:
                out.append([])
            if part:
                line = out[-1]
                if line and line[-1][0] == css:
                    line[-1][1] += part
                else:
                    line.append([css, part])
    out = out[: len(lines)]
    while len(out) < len(lines):
        out.append([])
    return out


def _file_path(header: str) -> str:
    m = re.match(r"^diff --git a/(.*) b/(.*)$", header)
    return m.group(2) if m else header


def parse_diff(diff: str, marks: dict[tuple[str, int], list[str]] | None = None) -> dict[str, Any]:
    """``{"files": [...], "truncated": bool}``; ``marks`` maps (file, post-step line) to detector ids."""
    marks = marks or {}
    files: list[dict[str, Any]] = []
    hunk: dict[str, Any] | None = None
    old = new = 0
    count = 0
    truncated = False
    for raw in diff.splitlines():
        if raw.startswith("diff --git "):
            files.append({"path": _file_path(raw), "meta": [], "hunks": []})
            hunk = None
            continue
        if not files:
            files.append({"path": "", "meta": [], "hunks": []})
        f = files[-1]
        m = _HUNK.match(raw)
        if m:
            old, new = int(m.group(1)), int(m.group(2))
            hunk = {"header": raw, "lines": []}
            f["hunks"].append(hunk)
            continue
        if hunk is None:
            if raw.startswith("+++ b/"):
                f["path"] = raw[6:]
            f["meta"].append(raw)
            continue
        if count >= MAX_LINES:
            truncated = True
            break
        count += 1
        kind, text = (raw[:1], raw[1:]) if raw[:1] in ("+", "-", " ") else (" ", raw)
        if raw.startswith("\\"):
            hunk["lines"].append({"kind": "\\", "old": None, "new": None, "text": raw})
            continue
        line = {"kind": kind, "old": None, "new": None, "text": text}
        if kind in (" ", "-"):
            line["old"] = old
            old += 1
        if kind in (" ", "+"):
            line["new"] = new
            new += 1
        hunk["lines"].append(line)
    for f in files:
        for h in f["hunks"]:
            post = [ln for ln in h["lines"] if ln["kind"] in (" ", "+")]
            gone = [ln for ln in h["lines"] if ln["kind"] == "-"]
            for group in (post, gone):
                for ln, toks in zip(group, _lex(f["path"], [x["text"] for x in group])):
                    ln["tokens"] = toks
            for ln in h["lines"]:
                ln.setdefault("tokens", [["", ln["text"]]])
                by = marks.get((f["path"], ln["new"])) if ln["new"] is not None else None
                ln["marks"] = sorted(set(by)) if by else []
                del ln["text"]
    # files with evidence first: that is what a reader opened the step for
    files.sort(key=lambda f: not any(ln["marks"] for h in f["hunks"] for ln in h["lines"]))
    return {"files": files, "truncated": truncated}
