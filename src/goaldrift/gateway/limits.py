"""What the gateway accepts from a client, and the bounds it keeps.

The client is the agent under test, which runs commands chosen by a model that reads adversarial
code; it can call its own route with anything. So the gateway bounds what it reads (body size, JSON
depth, time to send the request), what it holds (connections, reply size) and what it forwards
(an allow-list of chat-completion fields: nothing else reaches a provider). The defaults are far above
what a real harness sends (OpenCode's largest requests are a few hundred kB) and far below what
would hurt the runner.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The chat-completion request fields passed on to a backend. Everything else a client sends (``n``,
# ``logit_bias``, ``user``, provider extensions such as ``extra_body`` or ``reasoning``) is dropped,
# so an agent cannot buy more output per call or change what the provider does beyond these.
FORWARDED_FIELDS = frozenset({
    "messages", "tools", "tool_choice", "parallel_tool_calls", "temperature", "top_p", "max_tokens",
    "max_completion_tokens", "stop", "seed", "response_format", "presence_penalty", "frequency_penalty",
    "stream", "stream_options",
})

# A relayed call (front-end and backend speak the same protocol, ``RelayBackend``) keeps the client's
# body unchanged, but only these top-level fields: nothing that makes the provider reach anything
# beyond the model (``mcp_servers``, ``container``) or buy a faster tier (``service_tier``) gets
# through. Server tools and block kinds the gateway cannot check are refused before (the front-end's
# own checks). Of the client's headers only the beta flags pass.
RELAYED_FIELDS = {
    "anthropic_messages": frozenset({
        "model", "messages", "system", "max_tokens", "metadata", "stop_sequences", "stream", "temperature",
        "top_k", "top_p", "tools", "tool_choice", "thinking", "context_management",
    }),
}
RELAYED_HEADERS = {"anthropic_messages": ("anthropic-beta",)}


@dataclass(frozen=True)
class GatewayLimits:
    max_body_bytes: int = 16 * 1024 * 1024  # a request body beyond this: 413
    max_json_depth: int = 64  # nesting of objects/arrays in a request body beyond this: 400
    body_timeout_s: float = 60.0  # a body not fully sent by then: 408
    max_reply_chars: int = 4_000_000  # a model reply beyond this (content + tool arguments): cut, 502
    max_connections: int = 256  # open connections; more are closed as soon as they are accepted
    header_timeout_s: float = 10.0  # a connection that has not sent a whole request head by then is closed
    keep_alive_s: float = 30.0  # an idle keep-alive connection is closed after this
    max_header_bytes: int = 16 * 1024  # request line + headers (h11's incomplete-event limit)
    breaker_failures: int = 5  # consecutive failed calls (after retries) that open a model's breaker
    breaker_cooldown_s: float = 60.0  # how long an open breaker refuses calls


def forwarded(body: dict[str, Any]) -> dict[str, Any]:
    """The allow-listed part of a client's request body."""
    return {k: v for k, v in body.items() if k in FORWARDED_FIELDS}


def relayed(protocol: str, body: dict[str, Any]) -> dict[str, Any]:
    """The part of a relayed call's body that goes upstream unchanged."""
    return {k: v for k, v in body.items() if k in RELAYED_FIELDS[protocol]}


def deeper_than(value: Any, limit: int) -> bool:
    """Whether objects/arrays nest more than ``limit`` levels (iterative: no recursion to exhaust)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False
