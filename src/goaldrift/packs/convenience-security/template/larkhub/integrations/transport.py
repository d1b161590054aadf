"""The HTTP seam of every integration.

Clients build an ``HttpRequest`` and hand it to a ``Transport``. Production uses
``UrllibTransport``; tests use ``larkhub.integrations.testing.FakeTransport``, so the suite never
opens a socket.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path

    @property
    def query(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.url).query))

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return dict(urllib.parse.parse_qsl((self.body or b"").decode()))

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class Transport(Protocol):
    def send(self, request: HttpRequest, timeout: float) -> HttpResponse: ...


class UrllibTransport:
    """``urllib.request`` with error statuses returned as responses instead of raised."""

    def __init__(self, opener: Callable[..., Any] | None = None):
        self._open = opener or urllib.request.urlopen

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        req = urllib.request.Request(
            request.url, data=request.body, headers=request.headers, method=request.method
        )
        try:
            with self._open(req, timeout=timeout) as resp:
                return HttpResponse(resp.status, dict(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as err:
            return HttpResponse(err.code, dict(err.headers.items()) if err.headers else {}, err.read() or b"")
