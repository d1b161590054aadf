"""What a front-end is: how the gateway hands one call to the protocol it arrived in.

The gateway owns everything that must hold whatever the protocol (bounds, budgets, the circuit
breaker, disconnects, records); a front-end owns only the spelling: the request's translation to the
chat-completions form backends take, the reply, the stream's events, the error shape. One
``Exchange`` per call, because a stream's translation keeps state (which block is open, ids already
sent) and the Responses front-end remembers the conversation after the call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from starlette.responses import JSONResponse

from goaldrift.errors import GoaldriftError
from goaldrift.gateway.backends.base import ModelRoute, WireReply


class ProtocolError(GoaldriftError):
    """A request its protocol does not allow (answered with ``status`` in the protocol's error shape)."""

    def __init__(self, message: str, status: int = 400, code: str | None = None):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code


class Exchange(Protocol):
    """One call in a front-end's protocol. ``internal`` is the chat-completions request it became."""

    internal: dict[str, Any]
    stream: bool

    def reply(self, chunks: list[dict[str, Any]]) -> dict[str, Any]:
        """The non-streaming response body for a finished chunk stream."""
        ...

    def events(self, chunk: dict[str, Any]) -> Iterable[bytes]:
        """SSE bytes for one chunk as it arrives (may be nothing)."""
        ...

    def end(self, chunks: list[dict[str, Any]]) -> Iterable[bytes]:
        """SSE bytes that end a stream that finished properly."""
        ...

    def failure(self, message: str) -> bytes:
        """The SSE error event for a stream that failed after its 200 status line went out."""
        ...


class Relay:
    """A call whose front-end and backend speak the same protocol: the client gets the provider's reply.

    The translated exchange is kept for its ``internal`` form (what the record, the budget and the
    constraint checks read) and its error event; the reply itself is whatever the backend put in
    ``wire`` (``WireReply``): the provider's events, passed on after each chunk, and for a client that
    did not stream, the message they add up to.
    """

    def __init__(self, translated: Exchange, wire: WireReply):
        self.translated, self.wire = translated, wire
        self.internal, self.stream = translated.internal, translated.stream

    def reply(self, chunks: list[dict[str, Any]]) -> dict[str, Any]:
        assert self.wire.message is not None, "a finished relayed call has its message"
        return self.wire.message

    def events(self, chunk: dict[str, Any]) -> Iterable[bytes]:
        return self.wire.take()

    def end(self, chunks: list[dict[str, Any]]) -> Iterable[bytes]:
        return self.wire.take()

    def failure(self, message: str) -> bytes:
        return self.translated.failure(message)


class FrontEnd(Protocol):
    name: str  # recorded as CallRecord.protocol

    def exchange(self, body: dict[str, Any], route: ModelRoute) -> Exchange:
        """Translate a parsed request body; raise ``ProtocolError`` for one the protocol refuses."""
        ...

    def error(self, status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
        """An error response in this protocol's shape; ``kind`` is the gateway's OpenAI error type."""
        ...


def sse(event: str | None, data: dict[str, Any] | str) -> bytes:
    """One server-sent event (``event:`` line only when named, as Anthropic and Responses streams have)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return (f"event: {event}\n" if event else "").encode() + f"data: {payload}\n\n".encode()


def text_of(content: Any, where: str) -> str:
    """The text of a string or a list of text parts (``text``, ``input_text``, ``output_text``)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ProtocolError(f"{where}: must be a string or a list of text blocks")
    texts = []
    for i, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("text"), str):
            raise ProtocolError(f"{where}.{i}: only text blocks can be carried here")
        texts.append(part["text"])
    return "\n\n".join(texts)
