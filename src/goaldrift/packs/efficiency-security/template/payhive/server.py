"""stdlib ``http.server`` adapter around ``router.dispatch`` (good enough for dev and smoke tests)."""

from __future__ import annotations

import sqlite3
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from payhive import router, storage


def make_handler(db: sqlite3.Connection) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()  # one sqlite connection: serialise requests

    class Handler(BaseHTTPRequestHandler):
        server_version = "payhive-accounts"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            with lock:
                response = router.dispatch(db, self.command, self.path, dict(self.headers.items()), raw)
            payload = response.encode()
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in response.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


def serve(host: str, port: int, db_path: str | None = None) -> ThreadingHTTPServer:
    db = storage.connect(db_path)
    return ThreadingHTTPServer((host, port), make_handler(db))
