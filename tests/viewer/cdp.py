"""A small Chrome DevTools Protocol client for the browser tests: real headless Chromium, Python only.

Chromium is started with ``--remote-debugging-port=0`` (it picks a free port on 127.0.0.1 and prints
the browser's websocket URL on stderr); we open the first page target and talk JSON over the
``websockets`` sync client. Console errors, uncaught exceptions and failed loads are collected from
the ``Runtime`` and ``Log`` domains so a test can assert there were none.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1400,1000"]

VIRTUAL_KEYS = {"Escape": 27, "Enter": 13, "ArrowLeft": 37, "ArrowRight": 39, "ArrowUp": 38, "ArrowDown": 40}


class Browser:
    def __init__(self, profile: Path, timeout: float = 60):
        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        ws_url = None
        while time.monotonic() < deadline and ws_url is None:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                ws_url = m.group(1)
        if ws_url is None:
            self.proc.kill()
            raise RuntimeError("chromium did not start its DevTools endpoint")
        port = int(re.search(r":(\d+)/", ws_url).group(1))
        page = None
        while page is None and time.monotonic() < deadline:
            targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
            page = next((t for t in targets if t.get("type") == "page"), None)
            if page is None:
                time.sleep(0.2)
        self._stack = contextlib.ExitStack()
        self.ws = self._stack.enter_context(connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20,
                                                    open_timeout=timeout))
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self.errors: list[str] = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def _note(self, msg: dict) -> None:
        self.events.append(msg)
        method, p = msg.get("method"), msg.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            e = p["entry"]
            self.errors.append(f"log: {e.get('text')} {e.get('url', '')}")

    def send(self, method: str, params: dict | None = None, timeout: float = 30) -> dict:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self._note(msg)

    def pump(self, seconds: float) -> None:
        """Read events for a while (console errors may arrive after a page settled)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self._note(json.loads(self.ws.recv(timeout=max(0.05, deadline - time.monotonic()))))
            except TimeoutError:
                break

    def eval(self, expression: str) -> Any:
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in res:
            raise RuntimeError(f"{expression}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def goto(self, url: str, ready: str = "document.readyState === 'complete'", timeout: float = 30) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait(ready, timeout)

    def wait(self, expression: str, timeout: float = 30) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = self.eval(expression)
            except RuntimeError:
                last = None
            if last:
                return last
            self.pump(0.1)
        raise TimeoutError(f"waited {timeout} s for {expression!r} (last value {last!r})")

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the first element matching ``selector``."""
        self.wait(f"!!document.querySelector({selector!r})")
        box = self.eval(f"""(() => {{ const el = document.querySelector({selector!r});
            el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();
            return [r.left + r.width / 2, r.top + r.height / 2]; }})()""")
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    def type(self, text: str) -> None:
        self.send("Input.insertText", {"text": text})

    def press(self, key: str) -> None:
        """Press one key: a printable character or Escape/Enter (a real key event, as a user's keyboard sends)."""
        for kind in ("keyDown", "keyUp"):
            params = {"type": kind, "key": key, "code": f"Key{key.upper()}" if len(key) == 1 and key.isalpha() else key}
            if kind == "keyDown" and len(key) == 1:
                params["text"] = key
            if key in VIRTUAL_KEYS:
                params["windowsVirtualKeyCode"] = VIRTUAL_KEYS[key]
            self.send("Input.dispatchKeyEvent", params)

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": False})["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the process is killed below anyway
            self.send("Browser.close", timeout=5)
        try:
            self._stack.close()
        finally:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
