"""What the gateway records about one model call.

It lives with the gateway, not the store: the gateway produces these and hands them to a recorder
callable (the store's ``record_call`` in a run, a dict in the judge), so transport does not depend on
persistence. The store imports this type to write it.

``StepCalls`` is the same record kept in memory per route and step (``ModelRoute.calls``), small and
countable: what a harness's own trace is checked against (``goaldrift.tracecheck``) and what tells a
harness that its model is stuck repeating a failing call. The agent can rewrite its harness's record
(OpenCode's database is in its sandbox); it cannot touch this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from goaldrift.localmodel.repeats import repeated_failure


@dataclass
class CallRecord:
    """One model call through the gateway, as answered to the client.

    ``status`` is the HTTP status the gateway answered, 502 for a stream that failed after its 200
    status line went out (the client got an error event), 499 when the client went away first;
    ``retry_log`` holds one line per failed upstream attempt, starting with what went wrong
    (``HTTP 429``, ``timeout``, ``truncated``, ``connection``), so ``retries`` counts failed attempts.
    Tokens are those of the reply the client got, counted once.

    ``protocol`` is the front-end the call arrived in (``chat_completions``, ``anthropic_messages``,
    ``responses``). ``request`` is always in the backends' chat-completions form (for chat calls, the
    body as sent; None for a translated call refused before it could be translated); ``wire_request``
    holds the body as sent when it had to be translated, else None.
    ``response`` is always the assembled ``chat.completion``. For a translated call the wire reply is
    its translation; a relayed call (front-end and backend speak the same protocol) has the body as sent
    in both ``request`` (translated, as for any call) and ``wire_request``, and the provider's own reply
    in ``wire_response`` (what the client got: thinking blocks, signatures and cache usage included).
    Tokens are those of the reply the client got, counted once. ``queued_s`` is the part of
    ``latency_s`` the call waited for its model's rate limit before going upstream.
    """

    attempt_id: int | None
    step: int | None
    backend: str
    model: str
    stream: bool
    status: int
    latency_s: float
    queued_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    retry_log: list[str] = field(default_factory=list)
    error: str | None = None
    request: dict | None = None
    response: dict | None = None
    protocol: str = "chat_completions"
    wire_request: dict | None = None
    wire_response: dict | None = None


@dataclass(frozen=True)
class CallSummary:
    """One recorded call, counted: its status, whether the request offered tools (an agent turn, not a
    harness's side call such as OpenCode's title request), its tokens and the tool calls it answered."""

    status: int
    agent_turn: bool
    prompt_tokens: int
    completion_tokens: int
    tool_calls: int

    @property
    def answered(self) -> bool:
        return self.status == 200


@dataclass
class StepCalls:
    """Every call of one route and step, as the gateway saw it. ``repeated_call`` / ``repeats``: the
    failing tool call (by name) that the step's requests repeated most, and how often — counted when a
    request arrives (``seen``), so a harness can stop its turn while that request's call still runs."""

    calls: list[CallSummary] = field(default_factory=list)
    repeated_call: str | None = None
    repeats: int = 0

    def seen(self, request: dict[str, Any]) -> None:
        """A request of the step arrived (in the chat form): count its repeated failing call."""
        messages = request.get("messages")
        if isinstance(messages, list):
            name, n = repeated_failure([m for m in messages if isinstance(m, dict)])
            if n > self.repeats:
                self.repeated_call, self.repeats = name, n

    def add(self, rec: CallRecord) -> None:
        """A call of the step was recorded (answered, refused or failed)."""
        request = rec.request if isinstance(rec.request, dict) else {}
        choices = (rec.response or {}).get("choices") or [{}]
        message: dict[str, Any] = choices[0].get("message") or {}
        self.calls.append(CallSummary(rec.status, bool(request.get("tools")), rec.prompt_tokens,
                                      rec.completion_tokens, len(message.get("tool_calls") or [])))
