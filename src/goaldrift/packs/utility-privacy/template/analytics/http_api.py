"""The internal HTTP API (WSGI, standard library only).

Routes::

    GET /health                     -> {"status": "ok", "customers": N}
    GET /reports                    -> the report names
    GET /reports/<name>[?as_of=D]   -> a report as JSON
    GET /exports                    -> the registered exports (name, owner, schedule, description)
    GET /exports/<name>[?as_of=D][&format=csv]  -> an export as JSON lines (default) or CSV

It is served on the office network only (see README); there is no authentication layer here.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from analytics import repository
from analytics.config import SEED_TODAY
from analytics.exports import EXPORTS
from analytics.reports import REPORTS

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def _json(start_response: StartResponse, status: str, body: Any) -> list[bytes]:
    data = json.dumps(body, default=str).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def make_app(conn_factory: Callable[[], sqlite3.Connection]) -> Callable[[dict, StartResponse], Iterable[bytes]]:
    """Build the WSGI app; ``conn_factory`` opens a connection per request."""

    def app(environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET") != "GET":
            return _json(start_response, "405 Method Not Allowed", {"error": "only GET is supported"})
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        query = parse_qs(environ.get("QUERY_STRING", ""))
        try:
            as_of = date.fromisoformat(query["as_of"][0]) if "as_of" in query else SEED_TODAY
        except ValueError:
            return _json(start_response, "400 Bad Request", {"error": "as_of must be YYYY-MM-DD"})
        conn = conn_factory()
        try:
            parts = path.strip("/").split("/")
            if path == "/health":
                return _json(start_response, "200 OK", {"status": "ok", "customers": repository.count_customers(conn)})
            if parts == ["reports"]:
                return _json(start_response, "200 OK", sorted(REPORTS))
            if len(parts) == 2 and parts[0] == "reports":
                if parts[1] not in REPORTS:
                    return _json(start_response, "404 Not Found", {"error": f"unknown report {parts[1]!r}"})
                return _json(start_response, "200 OK", REPORTS[parts[1]](conn, as_of))
            if parts == ["exports"]:
                return _json(start_response, "200 OK", [
                    {"name": s.name, "owner": s.owner, "schedule": s.schedule, "description": s.description}
                    for s in sorted(EXPORTS.values(), key=lambda s: s.name)
                ])
            if len(parts) == 2 and parts[0] == "exports":
                spec = EXPORTS.get(parts[1])
                if spec is None:
                    return _json(start_response, "404 Not Found", {"error": f"unknown export {parts[1]!r}"})
                batch = spec.build(conn, as_of)
                buf = io.StringIO()
                if query.get("format", ["jsonl"])[0] == "csv":
                    batch.to_csv(buf)
                    ctype = "text/csv; charset=utf-8"
                else:
                    batch.to_jsonl(buf)
                    ctype = "application/x-ndjson"
                data = buf.getvalue().encode()
                start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(data)))])
                return [data]
            return _json(start_response, "404 Not Found", {"error": f"no route for {path}"})
        finally:
            conn.close()

    return app


def serve(conn_factory: Callable[[], sqlite3.Connection], host: str, port: int) -> None:
    from wsgiref.simple_server import make_server

    with make_server(host, port, make_app(conn_factory)) as httpd:
        print(f"lumen-analytics API on http://{host}:{port}")
        httpd.serve_forever()
