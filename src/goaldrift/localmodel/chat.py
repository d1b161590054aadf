"""Rendering an OpenAI chat request into the model's own prompt text.

The GGUF carries the chat template the model was trained with (Qwen2.5: ChatML, tools as a
``<tools>`` block in the system turn, calls as ``<tool_call>{json}</tool_call>``, results as
``<tool_response>`` inside a user turn). We render that template with jinja2, after normalising the
OpenAI messages into the shape the template expects:

- ``content`` lists of parts are joined into text; ``null`` content becomes ``""`` (an assistant
  message with ``content: null`` plus ``tool_calls`` is the normal OpenAI shape);
- tool-call ``arguments`` (a JSON string in OpenAI) are parsed back into objects, so a call the model
  made is re-rendered exactly as the template renders calls; that keeps the token prefix of the
  session stable, which is what lets the KV cache be reused across turns.

A template that does not know about tools (e.g. SmolLM2) gets the same Hermes-style tool block
appended to its system message, so tool calling works the same way with any model.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from goaldrift.errors import BackendError

CHATML_TEMPLATE = (
    "{%- for message in messages %}{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endfor %}{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)

TOOL_CALL_OPEN = "<tool_call>"
TOOL_CALL_CLOSE = "</tool_call>"


def tojson(value: Any, indent: int | None = None, separators: Any = None, sort_keys: bool = False) -> str:
    """Like Hugging Face's ``tojson``: plain ``json.dumps`` (jinja2's own escapes ``<``, ``>``, ``&``)."""
    return json.dumps(value, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)


def dump_arguments(args: Any) -> str:
    """Arguments as the template renders them (and as we return them to the client)."""
    return tojson(args)


def _raise(message: str) -> None:
    raise TemplateError(message)


def _env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        out = []
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict) and part.get("type") in ("text", "input_text"):
                out.append(str(part.get("text", "")))
            elif isinstance(part, dict):
                out.append(f"[{part.get('type', 'part')} omitted: the local model reads text only]")
        return "".join(out)
    return str(content)


def normalise_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise BackendError(f"messages[{i}] is not a chat message with a role")
        role = m["role"]
        if role == "developer":
            role = "system"
        if role == "function":
            role = "tool"
        msg: dict[str, Any] = {"role": role, "content": _text(m.get("content"))}
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for tc in m["tool_calls"]:
                fn = tc.get("function") or {}
                args = fn.get("arguments")
                if isinstance(args, str):
                    try:
                        args = json.loads(args) if args.strip() else {}
                    except ValueError:
                        pass  # rendered as the string it is
                calls.append({"id": tc.get("id"), "type": "function",
                              "function": {"name": fn.get("name", ""), "arguments": args}})
            msg["tool_calls"] = calls
        if role == "tool" and m.get("tool_call_id"):
            msg["tool_call_id"] = m["tool_call_id"]
        out.append(msg)
    return out


def hermes_tools_block(tools: list[dict[str, Any]]) -> str:
    """The tool instructions Qwen2.5's template puts in the system turn (used for templates without tools)."""
    lines = "".join("\n" + tojson(t) for t in tools)
    return ("\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n<tools>" + lines +
            "\n</tools>\n\nFor each function call, return a json object with function name and arguments "
            "within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, "
            "\"arguments\": <args-json-object>}\n</tool_call>")


def _hermes_fallback(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tools and tool traffic as plain text, for templates that know nothing about tools."""
    out = [dict(m) for m in messages]
    if out and out[0]["role"] == "system":
        out[0]["content"] += hermes_tools_block(tools)
    else:
        out.insert(0, {"role": "system", "content": hermes_tools_block(tools).lstrip()})
    rendered: list[dict[str, Any]] = []
    for m in out:
        if m["role"] == "assistant" and m.get("tool_calls"):
            text = m["content"]
            for tc in m["tool_calls"]:
                fn = tc["function"]
                text += (f"\n{TOOL_CALL_OPEN}\n{{\"name\": \"{fn['name']}\", \"arguments\": "
                         f"{tojson(fn['arguments'])}}}\n{TOOL_CALL_CLOSE}")
            rendered.append({"role": "assistant", "content": text.lstrip("\n")})
        elif m["role"] == "tool":
            block = f"<tool_response>\n{m['content']}\n</tool_response>"
            if rendered and rendered[-1].get("_tool"):
                rendered[-1]["content"] += "\n" + block
            else:
                rendered.append({"role": "user", "content": block, "_tool": True})
        else:
            rendered.append(m)
    for m in rendered:
        m.pop("_tool", None)
    return rendered


class ChatRenderer:
    """Renders requests with one model's chat template (compiled once)."""

    def __init__(self, template: str | None, *, bos_token: str = "", eos_token: str = ""):
        self.source = template or CHATML_TEMPLATE
        self.knows_tools = "tools" in self.source
        self._template = _env().from_string(self.source)
        self._special = {"bos_token": bos_token, "eos_token": eos_token}

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        msgs = normalise_messages(messages)
        if not msgs:
            raise BackendError("the request has no messages")
        kwargs: dict[str, Any] = {}
        if tools and self.knows_tools:
            kwargs["tools"] = tools
        elif tools:
            msgs = _hermes_fallback(msgs, tools)
        try:
            return self._template.render(messages=msgs, add_generation_prompt=True, **kwargs, **self._special)
        except TemplateError as exc:
            raise BackendError(f"the model's chat template rejected the request: {exc}") from exc
