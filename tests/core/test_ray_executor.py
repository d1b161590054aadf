"""The Ray executor on a local Ray cluster: the same results as the local executor run for run, a
worker killed mid-attempt and a driver killed mid-run still end with exactly the planned steps, and a
node that cannot run the experiment is exit 2 before anything is written.

The cluster is a real one (``ray start --head --block`` in its own process group, 2 CPUs, no
dashboard), started once for this file and stopped at its end by that process's id. Killing is by
PID: the worker is found through the store (each attempt records the node and process that ran it).
Nothing asserts on time: waits are for states (a step stored), bounded so a broken run fails instead
of hanging. Without ray installed, only the tests that need no cluster run; the others skip saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from tests.conftest import run_cli

import goaldrift
from goaldrift.errors import ConfigError
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import Runner, run_experiment

HAVE_RAY = importlib.util.find_spec("ray") is not None  # not imported here: drivers run as subprocesses
needs_ray = pytest.mark.skipif(not HAVE_RAY, reason="ray is not installed: pip install -e '.[ray]' to run the "
                                                    "Ray executor tests")
SRC = str(Path(goaldrift.__file__).resolve().parents[1])  # the goaldrift under test, for the cluster's workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster (head node only) in its own process group; yields its address."""
    if not HAVE_RAY:
        pytest.skip("ray is not installed: pip install -e '.[ray]' to run the Ray executor tests")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="gdray")  # short: Ray's socket paths must stay under 108 bytes
    log = open(Path(temp) / "ray-start.log", "w+b")  # noqa: SIM115 — closed with the cluster
    # Ray's servers listen on every interface: token authentication (a fresh token, for this cluster
    # and the drivers these tests start, through the environment) keeps others out.
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    saved = {k: os.environ.get(k) for k in auth}
    os.environ.update(auth)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")])),
           "RAY_USAGE_STATS_ENABLED": "0"}
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", f"--port={port}",
         "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={temp}",
         "--disable-usage-stats"],
        env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # ready when a driver can connect
            assert head.poll() is None, f"ray start failed: {Path(log.name).read_text()[-2000:]}"
            assert time.monotonic() < deadline, "the local Ray cluster did not start within 120 s"
            probe = subprocess.run([sys.executable, "-c", f"import ray; ray.init(address='{address}'); ray.shutdown()"],
                                   check=False, env=env, capture_output=True, timeout=120)
            if probe.returncode == 0:
                break
            time.sleep(1)
        yield address
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` stops the cluster's processes
        try:
            head.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(10)
        log.close()
        shutil.rmtree(temp, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _experiment(pack, *, repeats: int, steps: int, latency: float = 0.0, concurrency: int = 3, **extra) -> dict:
    return {"name": "ray", "models": [{"id": "m", "backend": "scripted", "params": {"latency_s": latency}}],
            "scenarios": [str(pack)], "conditions": ["privacy->utility", "utility->privacy"],
            "repeats": repeats, "steps": steps, "concurrency": concurrency,
            "agent": {"harness": "builtin", "limits": {"wall_time_s": 300}},
            "completion": False, **extra}  # Ray's workers are other processes: conftest's switch does not reach them


def _per_run(store: Path) -> dict[str, list[tuple]]:
    """Each counted run's steps as (step, outcome, detector, model calls of the step)."""
    db = sqlite3.connect(store)
    rows = db.execute("SELECT run_id, step, outcome, detector FROM step_results ORDER BY run_id, step").fetchall()
    calls = dict(db.execute("SELECT r.run_id || ':' || c.step, COUNT(*) FROM model_calls c JOIN counted_attempts r "
                            "ON r.attempt_id = c.attempt_id GROUP BY 1").fetchall())
    db.close()
    out: dict[str, list[tuple]] = {}
    for run_id, step, outcome, detector in rows:
        out.setdefault(run_id, []).append((step, outcome, detector, calls.get(f"{run_id}:{step}")))
    return out


def _assert_exactly_planned(store: Path) -> sqlite3.Connection:
    db = sqlite3.connect(store)
    planned = db.execute("SELECT SUM(n_steps) FROM runs").fetchone()[0]
    counted = db.execute("SELECT COUNT(*), COUNT(DISTINCT run_id || ':' || step) FROM step_results").fetchone()
    assert counted == (planned, planned), f"{counted} counted steps (total, distinct) for {planned} planned"
    assert db.execute("SELECT COUNT(*) FROM runs WHERE status != 'finished'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'running'").fetchone()[0] == 0
    return db


# -- without a cluster ----------------------------------------------------------------------------


def test_without_ray_the_ray_executor_is_one_clear_error_and_nothing_is_written(mini_pack, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as when it is not installed
    exp = experiment_from_dict(_experiment(mini_pack, repeats=1, steps=1, executor="ray"))
    store = tmp_path / "out" / "store.db"
    with pytest.raises(ConfigError, match=r"Ray is not installed: pip install 'goaldrift\[ray\]'"):
        run_experiment(exp, store, progress=False)
    assert not store.parent.exists()


def test_address_without_the_ray_executor_is_bad_input(mini_pack, tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(_experiment(mini_pack, repeats=1, steps=1)))
    result = run_cli("run", str(exp), "--store", str(tmp_path / "out" / "store.db"), "--address", "127.0.0.1:1")
    assert result.returncode == 2
    assert "--executor ray" in result.stdout + result.stderr
    assert not (tmp_path / "out").exists()


# -- on a local cluster ---------------------------------------------------------------------------


def _driver(exp: Path, store: Path, address: str) -> subprocess.Popen:
    """``goaldrift run`` on the cluster, as a user starts it (a process of its own, killable)."""
    return subprocess.Popen([sys.executable, "-m", "goaldrift", "run", str(exp), "--store", str(store),
                             "--executor", "ray", "--address", address, "--no-progress"],
                            env={**os.environ, "PYTHONPATH": SRC, "COLUMNS": "200"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(store: Path, sql: str, driver: subprocess.Popen, what: str):
    """Poll the store until ``sql`` returns a row (bounded: a broken run fails, never hangs)."""
    deadline = time.monotonic() + 240
    while True:
        assert driver.poll() is None, f"the driver ended before {what}: {driver.stdout.read()[-3000:]}"
        assert time.monotonic() < deadline, f"not within 240 s: {what}"
        time.sleep(0.2)
        if store.exists():
            db = sqlite3.connect(store)
            try:
                row = db.execute(sql).fetchone()
            except sqlite3.OperationalError:  # the schema is not written yet
                row = None
            db.close()
            if row:
                return row


@needs_ray
def test_ray_gives_the_local_executors_results_run_for_run(cluster, mini_pack, tmp_path):
    raw = _experiment(mini_pack, repeats=2, steps=2)  # 4 runs, 8 steps
    local = asyncio.run(Runner(experiment_from_dict(raw), tmp_path / "local" / "store.db", progress=False).run())
    assert local.complete
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(raw))
    driver = _driver(exp, tmp_path / "ray" / "store.db", cluster)
    out = driver.communicate(timeout=300)[0]
    assert driver.returncode == 0, out[-3000:]
    assert "4 finished now, 0 failed; 8 steps stored" in out
    by_run = _per_run(tmp_path / "ray" / "store.db")
    assert by_run == _per_run(tmp_path / "local" / "store.db")
    assert len(by_run) == 4 and all(c for steps in by_run.values() for *_, c in steps)  # calls stored too
    db = _assert_exactly_planned(tmp_path / "ray" / "store.db")
    info = [json.loads(i) for (i,) in db.execute("SELECT info_json FROM attempts")]
    assert all(i["node"] and i["pid"] != driver.pid for i in info)  # ran in Ray's workers, not the driver
    # the experiment's settings reach the workers too: completion: false, so no check ran (0 s)
    assert db.execute("SELECT MAX(completion_s) FROM steps").fetchone()[0] == 0


@needs_ray
def test_a_worker_killed_mid_attempt_ends_with_exactly_the_planned_steps(cluster, mini_pack, tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(_experiment(mini_pack, repeats=2, steps=3, latency=0.5)))  # 4 runs, 12 steps
    store = tmp_path / "store.db"
    driver = _driver(exp, store, cluster)
    try:  # the worker of the first attempt that has stored a step and is still running
        (info,) = _wait_for(store, "SELECT a.info_json FROM attempts a JOIN steps s ON s.attempt_id = a.attempt_id "
                                   "WHERE a.status = 'running' AND a.info_json IS NOT NULL LIMIT 1",
                            driver, "a step was stored")
        killed = json.loads(info)["pid"]
        os.kill(killed, signal.SIGKILL)
        out = driver.communicate(timeout=300)[0]
    finally:
        driver.kill()
        driver.wait(30)
    assert driver.returncode == 0, out[-3000:]
    db = _assert_exactly_planned(store)
    lost = db.execute("SELECT COUNT(*), SUM((SELECT COUNT(*) FROM steps s WHERE s.attempt_id = a.attempt_id)) "
                      "FROM attempts a WHERE status = 'aborted' AND error LIKE 'worker lost%'").fetchone()
    assert lost[0] >= 1 and lost[1] >= 1  # the killed attempt's stored steps are kept, and not counted
    reruns = db.execute("SELECT info_json FROM attempts WHERE status = 'finished' AND run_id IN "
                        "(SELECT run_id FROM attempts WHERE status = 'aborted')").fetchall()
    assert reruns and all(json.loads(i)["pid"] != killed for (i,) in reruns)  # in the host Ray restarted


@needs_ray
def test_a_driver_killed_mid_run_resumes_to_exactly_the_planned_steps(cluster, mini_pack, tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(_experiment(mini_pack, repeats=2, steps=3, latency=0.5, executor="ray")))
    store = tmp_path / "out" / "store.db"
    driver = _driver(exp, store, cluster)
    try:
        _wait_for(store, "SELECT 1 FROM steps", driver, "a step was stored")
    finally:
        driver.kill()
        driver.wait(30)
    again = run_cli("run", str(exp), "--store", str(store), "--address", cluster, "--no-progress", timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "marked aborted" in again.stdout
    db = _assert_exactly_planned(store)
    assert db.execute("SELECT COUNT(*) FROM attempts WHERE status = 'aborted'").fetchone()[0] >= 1


@needs_ray
def test_a_node_without_the_models_key_is_exit_2_before_anything_is_written(cluster, mini_pack, tmp_path):
    raw = _experiment(mini_pack, repeats=1, steps=1, executor="ray")
    raw["models"] = [{"id": "remote", "backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "x",
                      "api_key_env": "GOALDRIFT_TEST_KEY_ONLY_ON_THE_DRIVER"}]
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(raw))
    store = tmp_path / "out" / "store.db"
    # The driver has the key; the cluster's node (started without it) does not.
    result = run_cli("run", str(exp), "--store", str(store), "--address", cluster,
                     env={"GOALDRIFT_TEST_KEY_ONLY_ON_THE_DRIVER": "sk-test"}, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "GOALDRIFT_TEST_KEY_ONLY_ON_THE_DRIVER" in result.stdout + result.stderr
    assert "node " in result.stdout + result.stderr
    assert not store.parent.exists()
