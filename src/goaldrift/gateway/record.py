"""What the gateway records about one model call.

It lives with the gateway, not the store: the gateway produces these and hands them to a recorder
callable (the store's ``record_call`` in a run, a dict in the judge), so transport does not depend on
persistence. The store imports this type to write it.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
