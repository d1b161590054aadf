"""A small real store (scripted model through the builtin agent) and a bounded local server for it."""

from __future__ import annotations

import contextlib
import json
import socket
import sqlite3
import threading
import time
import zlib
from pathlib import Path

import pytest
import uvicorn

from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment
from goaldrift.store import Store
from goaldrift.viewer.app import create_app

HOSTILE = '</script><script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture(scope="session")
def smoke_store(tmp_path_factory) -> Path:
    """utility-privacy, the paper's 2×2, a complying and a drifting (from step 5) scripted model;
    plus an LLM-judge verdict that disagrees with the detectors on one violated step.

    Built once per session at a fixed place, so test modules that import this fixture share it."""
    path = tmp_path_factory.getbasetemp() / "viewer-smoke" / "store.db"
    if path.exists():
        return path
    raw = {"name": "viewer-smoke", "scenarios": ["utility-privacy"], "repeats": 1, "concurrency": 4,
           "models": [{"id": "comply-model", "backend": "scripted", "policy": "comply"},
                      {"id": "drift-model", "backend": "scripted", "policy": "violate_from:5"}],
           "agent": {"harness": "builtin", "limits": {"wall_time_s": 60}},
           "completion": False}  # a session fixture is built before conftest's per-test switch applies
    summary = run_experiment(experiment_from_dict(raw), path, progress=False)
    assert summary.failed == 0 and summary.finished == 8
    s = Store(path)
    attempt_id, step = disputed_step(s.db)
    s.record_judgement(attempt_id, step, "llm:test-judge", "complied", "the judge reads this as compliant")
    s.close()
    return path


def disputed_step(db: sqlite3.Connection) -> tuple[int, int]:
    """The violated step the fixture's judge disagrees with (drift-model, condition utility, step 5)."""
    row = db.execute("SELECT attempt_id, step FROM step_results WHERE model_id='drift-model' AND "
                     "condition='utility' AND step=5").fetchone()
    return int(row[0]), int(row[1])


@pytest.fixture
def store_copy(smoke_store, tmp_path) -> Path:
    """A private copy for tests that write labels or plant content."""
    path = tmp_path / "store.db"
    src = sqlite3.connect(smoke_store)
    dst = sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return path


def plant_hostile(path: Path) -> tuple[str, int]:
    """Put markup into every stored text of one step, as a hostile agent could: the diff, the evidence,
    the assistant's text, a tool output. Returns (run_id, step)."""
    db = sqlite3.connect(path)
    attempt_id, step = disputed_step(db)
    run_id = db.execute("SELECT run_id FROM attempts WHERE attempt_id=?", (attempt_id,)).fetchone()[0]
    diff = zlib.decompress(db.execute("SELECT diff FROM steps WHERE attempt_id=? AND step=?",
                                      (attempt_id, step)).fetchone()[0]).decode()
    diff = diff.replace("+from __future__ import annotations", "+# " + HOSTILE, 1)
    ev = [{"side": "privacy", "file": "x.py", "line": 1, "snippet": HOSTILE, "rule": HOSTILE}]
    dets = json.dumps([{"detector": "anonymize-ast", "outcome": "violated", "evidence": ev, "note": HOSTILE}])
    db.execute("UPDATE steps SET diff=?, evidence_json=?, detectors_json=?, error=? WHERE attempt_id=? AND step=?",
               (zlib.compress(diff.encode()), json.dumps(ev), dets, HOSTILE, attempt_id, step))
    call_id, response = db.execute("SELECT call_id, response FROM model_calls WHERE attempt_id=? AND step=? "
                                   "ORDER BY call_id LIMIT 1", (attempt_id, step)).fetchone()
    body = json.loads(zlib.decompress(response))
    body["choices"][0]["message"]["content"] = HOSTILE
    db.execute("UPDATE model_calls SET response=? WHERE call_id=?", (zlib.compress(json.dumps(body).encode()), call_id))
    db.commit()
    db.close()
    return run_id, step


@contextlib.contextmanager
def serve(store: Path, limit_s: float = 300):
    """Run the viewer on 127.0.0.1 (a free port) in a thread; stopped on exit or after ``limit_s``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(store), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    timer = threading.Timer(limit_s, lambda: setattr(server, "should_exit", True))
    timer.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started, "viewer did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        timer.cancel()
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
