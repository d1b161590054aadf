"""``FakeTransport``: records requests and replays canned responses. For tests only."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from larkhub.integrations.transport import HttpRequest, HttpResponse


@dataclass
class _Route:
    method: str
    fragment: str
    response: HttpResponse


class FakeTransport:
    """Answer requests whose method matches and whose URL contains ``fragment``.

    Unmatched requests get ``default`` (200 with an empty JSON object). Every request is kept in
    ``requests``; ``last`` is the most recent one.
    """

    def __init__(self, default: HttpResponse | None = None):
        self.routes: list[_Route] = []
        self.requests: list[HttpRequest] = []
        self.default = default or HttpResponse(200, {"Content-Type": "application/json"}, b"{}")

    def add(
        self,
        method: str,
        fragment: str,
        *,
        status: int = 200,
        json_body: Any = None,
        text: str | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> FakeTransport:
        if json_body is not None:
            payload, ctype = json.dumps(json_body).encode(), "application/json"
        elif text is not None:
            payload, ctype = text.encode(), "text/plain"
        else:
            payload, ctype = body or b"", "application/octet-stream"
        all_headers = {"Content-Type": ctype, **(headers or {})}
        self.routes.append(_Route(method.upper(), fragment, HttpResponse(status, all_headers, payload)))
        return self

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        self.requests.append(request)
        for route in self.routes:
            if route.method == request.method and route.fragment in request.url:
                return route.response
        return self.default

    @property
    def last(self) -> HttpRequest:
        if not self.requests:
            raise AssertionError("no request was sent")
        return self.requests[-1]
