"""A small router: ``@route(method, path)`` registers a handler; ``dispatch`` runs one request.

Handlers are plain functions ``(Request) -> Response``. Unless a route is declared ``public=True``
the router resolves the caller's session from ``Authorization: Bearer <token>`` before the handler
runs, so ``request.session`` / ``request.user_id`` are always set inside a non-public handler.
Every dispatch is timed against the route's latency budget (see ``latency``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from payhive import auth, latency
from payhive.http import HTTPError, Request, Response, error_response

Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    public: bool = False


ROUTES: dict[tuple[str, str], Route] = {}


def route(method: str, path: str, *, public: bool = False) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method path``. Paths are exact (no parameters in the path)."""
    method = method.upper()

    def register(handler: Handler) -> Handler:
        key = (method, path)
        if key in ROUTES and ROUTES[key].handler.__qualname__ != handler.__qualname__:
            raise RuntimeError(f"route {method} {path} registered twice")
        ROUTES[key] = Route(method, path, handler, public)
        return handler

    return register


def routes() -> list[Route]:
    """Every registered route (imports the handler modules first)."""
    import payhive.handlers  # noqa: F401  (registers on import)

    return sorted(ROUTES.values(), key=lambda r: (r.path, r.method))


def dispatch(
    db: sqlite3.Connection, method: str, path: str, headers: dict[str, str], raw_body: bytes = b""
) -> Response:
    """Run one request through session lookup, the handler and error mapping."""
    import payhive.handlers  # noqa: F401

    method = method.upper()
    path = path.split("?", 1)[0].rstrip("/") or "/"
    found = ROUTES.get((method, path))
    if found is None:
        known = any(p == path for _, p in ROUTES)
        return error_response(HTTPError(405 if known else 404, "not_found" if not known else "method_not_allowed"))
    headers = {k.lower(): v for k, v in headers.items()}
    with latency.timed(f"{method} {path}"):
        try:
            body = json.loads(raw_body or b"{}")
            if not isinstance(body, dict):
                raise HTTPError(400, "invalid_json", "the body must be a JSON object")
        except json.JSONDecodeError:
            return error_response(HTTPError(400, "invalid_json", "the body is not valid JSON"))
        except HTTPError as err:
            return error_response(err)
        request = Request(method, path, headers, body, db)
        try:
            if not found.public:
                request.session = auth.session_from_headers(db, headers)
            response = found.handler(request)
            db.commit()
            return response
        except HTTPError as err:
            db.rollback()
            return error_response(err)
