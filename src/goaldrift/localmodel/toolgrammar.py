"""A GBNF grammar from a request's tools, and the parser for what it produces.

Small models rarely emit well-formed tool calls on their own (they print JSON as text). With tools in
the request, decoding is constrained to the model's native call format::

    <tool_call>
    {"name": "<one of the tools>", "arguments": <JSON valid against that tool's parameters schema>}
    </tool_call>

one grammar branch per tool, so the name selects the schema its arguments must follow. For
``tool_choice: "auto"`` (the default) a branch for a plain text answer stays open, so the agent can
still finish with a message. That branch may not *start* with ``<``, ``{``, ``[`` or a backtick, and
may not contain ``<t``: a reply that begins like a call (```` ```json {...} ````, a bare object) has to
take the call branch, where it becomes a real, schema-valid call. ``"required"`` removes the text
branch, a named ``tool_choice`` allows only that tool, ``"none"`` allows text only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from goaldrift.errors import BackendError
from goaldrift.localmodel.chat import TOOL_CALL_CLOSE, TOOL_CALL_OPEN, dump_arguments

_EMPTY_OBJECT = {"type": "object", "properties": {}}


def _lit(text: str) -> str:
    """A GBNF string literal (GBNF escapes are JSON's)."""
    return json.dumps(text)


@dataclass(frozen=True)
class ToolMode:
    """How a request's ``tools`` + ``tool_choice`` constrain decoding."""

    kind: str  # "off" (no tools) | "auto" | "required" | "named" | "none"
    tool: str | None = None

    @property
    def calls_allowed(self) -> bool:
        return self.kind in ("auto", "required", "named")


def tool_mode(request: dict[str, Any]) -> ToolMode:
    tools = request.get("tools") or []
    choice = request.get("tool_choice", "auto")
    if not tools:
        return ToolMode("off")
    names = [t.get("function", {}).get("name") for t in tools]
    if choice in (None, "auto"):
        return ToolMode("auto")
    if choice == "none":
        return ToolMode("none")
    if choice == "required":
        return ToolMode("required")
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name not in names:
            raise BackendError(f"tool_choice names {name!r}, which is not among the request's tools {names}")
        return ToolMode("named", name)
    raise BackendError(f"unsupported tool_choice {choice!r}: use auto, none, required or a named function")


def _validate_tools(tools: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise BackendError(f"tools[{i}] is not a function tool with a name")
        params = fn.get("parameters") or _EMPTY_OBJECT
        if not isinstance(params, dict):
            raise BackendError(f"tools[{i}] ({fn['name']}): parameters must be a JSON schema object")
        out.append((fn["name"], params))
    return out


def build_grammar(tools: list[dict[str, Any]], mode: ToolMode, *, max_calls: int = 4,
                  open_token: int | None = None, close_token: int | None = None) -> str | None:
    """The GBNF for ``mode`` (``None``: unconstrained plain chat).

    ``open_token``/``close_token``: ids of ``<tool_call>``/``</tool_call>`` when the vocabulary has
    them as single tokens (Qwen2.5). The grammar then demands those tokens rather than the same
    characters spelled in pieces (``<``, ``tool``, ``_call``, ``>``): that is the format the model was
    trained on, and it keeps the generated tokens identical to the re-rendered history, so the next
    turn reuses them from the KV cache.
    """
    if mode.kind == "off":
        return None
    prose = [
        r'prose ::= prose-first prose-char*',
        r'prose-first ::= [^<{\[` \t\r\n]',
        r'prose-char ::= [^<] | "<" [^t]',
    ]
    if mode.kind == "none":
        return "\n".join(["root ::= prose", *prose])

    from llama_cpp.llama_grammar import SchemaConverter

    conv = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    branches = []
    for i, (name, params) in enumerate(_validate_tools(tools)):
        if mode.kind == "named" and name != mode.tool:
            continue
        try:
            schema = conv.resolve_refs(json.loads(json.dumps(params)), f"tool-{i}")
            args_rule = conv.visit(schema, f"tool{i}-args")
        except Exception as exc:
            raise BackendError(f"cannot build a grammar for tool {name!r}'s parameters schema: {exc}") from exc
        head = '{"name": ' + json.dumps(name, ensure_ascii=False) + ', "arguments": '
        conv._add_rule(f"tool{i}", f'{_lit(head)} {args_rule} "}}"')
        branches.append(f"tool{i}")
    rules = [conv.format_grammar()]
    open_ = f'<[{open_token}]> "\\n"' if open_token is not None else _lit(TOOL_CALL_OPEN + "\n")
    close = f'"\\n" <[{close_token}]>' if close_token is not None else _lit("\n" + TOOL_CALL_CLOSE)
    rules.append(f"call ::= {open_} ( {' | '.join(branches)} ) {close}")
    more = f' ( "\\n" call ){{0,{max_calls - 1}}}' if max_calls > 1 else ""
    rules.append(f"calls ::= call{more}")
    if mode.kind == "auto":
        rules.append('root ::= calls | prose | prose "\\n" calls')
        rules.extend(prose)
    elif mode.kind == "named":
        rules.append("root ::= call")
    else:
        rules.append("root ::= calls")
    return "\n".join(rules)


_CALL_RE = re.compile(re.escape(TOOL_CALL_OPEN) + r"\s*(.*?)\s*" + re.escape(TOOL_CALL_CLOSE), re.DOTALL)


def parse_calls(text: str, *, allow_cut_tail: bool = False) -> list[tuple[str, str]] | None:
    """``[(name, arguments_json)]`` from the text after the first ``<tool_call>``; ``None`` if it is
    not a well-formed sequence of calls. With ``allow_cut_tail`` (the reply hit max_tokens), complete
    calls followed by the beginning of another one count, and the cut-off one is dropped."""
    calls = []
    rest = text.strip()
    pos = 0
    for m in _CALL_RE.finditer(rest):
        if rest[pos:m.start()].strip():
            return None
        pos = m.end()
        try:
            obj = json.loads(m.group(1), strict=False)  # the grammar lets strings hold raw newlines
        except ValueError:
            return None
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return None
        args = obj.get("arguments", {})
        calls.append((obj["name"], args if isinstance(args, str) else dump_arguments(args)))
    tail = rest[pos:].strip()
    if tail and not (allow_cut_tail and tail.startswith(TOOL_CALL_OPEN) and TOOL_CALL_CLOSE not in tail):
        return None
    return calls or None


def holdback(text: str, marker: str) -> int:
    """How many trailing characters of ``text`` might be the start of ``marker`` (not yet safe to emit)."""
    for k in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-k:]):
            return k
    return 0


_FENCE_RE = re.compile(r"```(?:json|tool_call)?[ \t]*\n(.*?)\n?```", re.DOTALL)


def salvage_calls(text: str, tool_names: set[str]) -> tuple[str, list[tuple[str, str]]] | None:
    """Tool calls a model printed as text in a fenced block (```` ```json {"name": ..., "arguments":
    {...}} ``` ````), the way small models do when they choose the text branch. Only objects whose
    ``name`` is one of the request's tools and whose ``arguments`` is an object count. Returns the
    text outside the blocks and the calls, or ``None``. The caller records that it salvaged."""
    calls = []
    kept = []
    pos = 0
    for m in _FENCE_RE.finditer(text):
        try:
            obj = json.loads(m.group(1), strict=False)
        except ValueError:
            continue
        if (isinstance(obj, dict) and obj.get("name") in tool_names and isinstance(obj.get("arguments"), dict)):
            calls.append((obj["name"], dump_arguments(obj["arguments"])))
            kept.append(text[pos:m.start()])
            pos = m.end()
    if not calls:
        return None
    kept.append(text[pos:])
    return "".join(kept).strip(), calls
