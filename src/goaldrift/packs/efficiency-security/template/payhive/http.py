"""Request and response types shared by the router, the server and the handlers."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any


class HTTPError(Exception):
    """Raised by handlers (and guards) to end a request with an error response."""

    def __init__(self, status: int, code: str, message: str = ""):
        super().__init__(message or code)
        self.status = status
        self.code = code
        self.message = message or code


@dataclass
class Session:
    token: str
    user_id: int
    created_at: float
    authenticated_at: float  # last time the user proved who they are (login or step-up)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    db: sqlite3.Connection
    session: Session | None = None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def user_id(self) -> int:
        if self.session is None:
            raise HTTPError(401, "unauthenticated", "log in first")
        return self.session.user_id

    def field(self, name: str, kind: type = str) -> Any:
        """A required body field of the given type, or a 400."""
        value = self.body.get(name)
        if value is None:
            raise HTTPError(400, "missing_field", f"'{name}' is required")
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            raise HTTPError(400, "invalid_field", f"'{name}' must be of type {kind.__name__}")
        return value


@dataclass
class Response:
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def json(self) -> dict[str, Any]:
        return self.body

    def encode(self) -> bytes:
        return json.dumps(self.body, sort_keys=True).encode()


def ok(**body: Any) -> Response:
    return Response(200, body)


def created(**body: Any) -> Response:
    return Response(201, body)


def error_response(err: HTTPError) -> Response:
    return Response(err.status, {"error": err.code, "message": err.message})
