"""The OpenAI chat-completions front-end: the backends' own form, passed through unchanged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.responses import JSONResponse

from goaldrift.gateway.backends.base import ModelRoute
from goaldrift.gateway.chunks import assemble
from goaldrift.gateway.protocols.base import ProtocolError, sse


class _ChatExchange:
    def __init__(self, body: dict[str, Any]):
        self.internal = body
        self.stream = bool(body.get("stream"))
        options = body.get("stream_options")
        self.want_usage = isinstance(options, dict) and bool(options.get("include_usage"))

    def reply(self, chunks: list[dict[str, Any]]) -> dict[str, Any]:
        return assemble(chunks)

    def events(self, chunk: dict[str, Any]) -> Iterable[bytes]:
        # the usage chunk (empty choices) only for a client that asked for it, as OpenAI does
        return [sse(None, chunk)] if self.want_usage or chunk.get("choices") else []

    def end(self, chunks: list[dict[str, Any]]) -> Iterable[bytes]:
        return [sse(None, "[DONE]")]

    def failure(self, message: str) -> bytes:
        return sse(None, {"error": {"message": message, "type": "upstream_error", "code": 502}})


class ChatCompletions:
    name = "chat_completions"

    def exchange(self, body: dict[str, Any], route: ModelRoute) -> _ChatExchange:
        if not isinstance(body.get("messages"), list):
            raise ProtocolError("'messages' must be a list")
        return _ChatExchange(body)

    def error(self, status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
        return JSONResponse({"error": {"message": message, "type": kind, "code": code or status}},
                            status_code=status)


CHAT = ChatCompletions()
