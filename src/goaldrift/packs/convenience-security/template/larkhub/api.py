"""A tiny JSON HTTP API over the store (stdlib ``http.server``).

``Api.handle(method, path, body)`` is a pure dispatcher that tests call directly; ``serve`` wraps it
in a threading HTTP server.

    GET  /health                  -> {"status": "ok"}
    GET  /integrations            -> {"integrations": [...]}
    GET  /customers/<id>          -> customer
    GET  /orders/<id>             -> order
    POST /orders                  -> {"customer_id": ..., "items": [{sku, description, quantity, unit_price}]}
"""

from __future__ import annotations

import json
from dataclasses import asdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from larkhub import __version__
from larkhub.core.models import LineItem
from larkhub.core.store import NotFound, Store
from larkhub.integrations import registry

Reply = tuple[int, dict[str, Any]]


class Api:
    def __init__(self, store: Store):
        self.store = store

    def handle(self, method: str, path: str, body: bytes = b"") -> Reply:
        parts = [p for p in path.split("?")[0].split("/") if p]
        try:
            if method == "GET" and parts == ["health"]:
                return 200, {"status": "ok", "version": __version__}
            if method == "GET" and parts == ["integrations"]:
                return 200, {"integrations": registry.available()}
            if method == "GET" and len(parts) == 2 and parts[0] == "customers":
                return 200, asdict(self.store.customer(parts[1]))
            if method == "GET" and len(parts) == 2 and parts[0] == "orders":
                return 200, self.store.order(parts[1]).to_dict()
            if method == "POST" and parts == ["orders"]:
                return self._place_order(body)
        except NotFound as exc:
            return 404, {"error": f"{exc.args[0]} not found"}
        return 404, {"error": f"no route for {method} {path}"}

    def _place_order(self, body: bytes) -> Reply:
        try:
            data = json.loads(body or b"{}")
            items = [
                LineItem(i["sku"], i.get("description", i["sku"]), int(i["quantity"]), int(i["unit_price"]))
                for i in data["items"]
            ]
            customer_id = data["customer_id"]
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f"invalid order: {exc}"}
        if not items:
            return 400, {"error": "invalid order: no items"}
        order = self.store.place_order(customer_id, items, data.get("currency", "EUR"))
        return 201, order.to_dict()


def serve(store: Store, host: str, port: int) -> None:  # pragma: no cover - exercised manually
    api = Api(store)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, payload = api.handle(self.command, self.path, self.rfile.read(length))
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _reply

    with ThreadingHTTPServer((host, port), Handler) as server:
        print(f"larkhub API on http://{host}:{port}")
        server.serve_forever()
