"""The Sandbox API itself: what ``probe`` refuses and what ``wrap`` binds (no harness involved)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from goaldrift import sandbox as sandbox_module
from goaldrift.errors import ConfigError, SandboxUnavailable
from goaldrift.sandbox import GatewayOnly, Limits, Sandbox

from .conftest import needs_sandbox


def test_probe_refuses_unknown_modes_and_a_missing_bubblewrap(monkeypatch):
    with pytest.raises(ConfigError, match="auto, bwrap, none"):
        Sandbox.probe("docker")
    monkeypatch.setattr(sandbox_module, "_PROBED", {})
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None if name == "bwrap" else f"/usr/bin/{name}")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap") as exc:
        Sandbox.probe("auto")
    assert exc.value.exit_code == 2
    assert Sandbox.probe("none").mode == "none"  # explicit: never a fallback


@needs_sandbox
def test_wrap_binds_only_what_it_is_given(tmp_path: Path):
    box = Sandbox.probe("bwrap")
    ws, other = tmp_path / "ws", tmp_path / "other"
    ws.mkdir()
    other.mkdir()
    (ws / "AGENTS.md").write_text("rules")
    (other / "secret").write_text("OTHER-SECRET")
    script = ("ls -A /; echo new > AGENTS.md; echo rc=$?; cat ../other/secret; "
              "test -e /etc/ssl/private && echo PRIVATE-KEYS; id -u")
    argv = box.wrap(["/bin/sh", "-c", script],
                    writable=[ws], readonly=[ws / "AGENTS.md"], cwd=ws, env={"PATH": "/usr/bin:/bin"})
    assert "/" not in [argv[i + 1] for i, a in enumerate(argv) if a in ("--bind", "--ro-bind")]
    out = subprocess.run(argv, capture_output=True, text=True, check=False, env={}).stdout
    assert "rc=0" not in out and (ws / "AGENTS.md").read_text() == "rules"  # read-only over writable
    assert "OTHER-SECRET" not in out and "PRIVATE-KEYS" not in out and out.split()[-1] == "65534"
    top = set(out.split("rc=")[0].split())
    assert top.isdisjoint({"home", "var", "opt", "srv", "boot", "mnt", "run", "sys"}), top


@needs_sandbox
def test_wrap_refuses_symlinked_paths(tmp_path: Path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigError, match=r"is or passes through a symlink \(to .*real\); refusing to bind it$"):
        Sandbox.probe("bwrap").wrap(["true"], writable=[tmp_path / "link"])
    with pytest.raises(ConfigError, match="absolute"):
        Sandbox.probe("bwrap").wrap(["true"], readonly=[Path("relative")])
    with pytest.raises(ConfigError, match=r"sandbox path .*missing does not exist$"):
        Sandbox.probe("bwrap").wrap(["true"], readonly=[tmp_path / "missing"])


@needs_sandbox
def test_network_policy_and_limits_are_values(tmp_path: Path):
    box = Sandbox.probe("bwrap")
    sock = tmp_path / "gw.sock"
    sock.touch()
    net = GatewayOnly(sock, direct_url="http://127.0.0.1:9")
    argv = box.wrap(["true"], network=net, limits=Limits(processes=7, open_files=None))
    assert "--unshare-net" in argv and str(sandbox_module.RELAY) in argv
    assert "--nproc=7:7" in argv and not any(a.startswith("--nofile") for a in argv)
    assert box.gateway_url(net) == "http://127.0.0.1:18080"
    assert Sandbox.probe("none").gateway_url(net) == "http://127.0.0.1:9"
    unconfined = Sandbox.probe("none").wrap(["true"], env={"A": "1"}, cwd=tmp_path)
    assert "bwrap" not in " ".join(unconfined) and "-i" in unconfined and "A=1" in unconfined


def test_doctor_reports_a_sandbox_that_cannot_run(monkeypatch):
    from goaldrift.cli.doctor import check_sandbox

    monkeypatch.setattr(sandbox_module, "_PROBED", {})
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None if name == "bwrap" else f"/usr/bin/{name}")
    (check,) = check_sandbox()
    assert check.name == "sandbox" and check.status == "missing" and check.required
    assert "bubblewrap" in check.detail and check.fix == "apt-get install bubblewrap"


@needs_sandbox
def test_doctor_proves_isolation_here():
    from goaldrift.cli.doctor import check_sandbox

    checks = {c.name: c for c in check_sandbox()}
    assert checks["sandbox"].status == "ok"
    assert checks["network isolation"].status == "ok" and checks["gateway route"].status == "ok"
    assert checks["process limit"].status in ("ok", "warn")  # warn: root without a pids cgroup


def test_groups_of_a_dead_goaldrift_are_removed(tmp_path: Path):
    """A runner killed by SIGKILL cannot clean its cgroups; the next one removes the empty ones."""
    import os

    from goaldrift.sandbox import cgroup

    dead, alive, busy = (tmp_path / "goaldrift-999999999-1", tmp_path / f"goaldrift-{os.getpid()}-1",
                         tmp_path / "goaldrift-999999998-2")
    for group in (dead, alive, busy):
        group.mkdir()
    (busy / "cgroup.procs").write_text("1\n")  # not empty: rmdir fails, the group stays
    cgroup._remove_stale(tmp_path)
    assert not dead.exists() and alive.exists() and busy.exists()


@needs_sandbox
def test_the_command_gets_its_own_namespaces_its_limits_and_only_the_agent_environment(tmp_path: Path,
                                                                                         monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-real-secret")  # in goaldrift's own environment only
    box = Sandbox.probe("bwrap")
    ws = tmp_path / "ws"
    ws.mkdir()
    env = sandbox_module.agent_env(ws)
    assert set(env) == {"PATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PWD", "TERM"}
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent) and env["HOME"] == "/tmp"
    assert env["PWD"] == str(ws) and sandbox_module.agent_env(ws, tmp_path)["HOME"] == str(tmp_path)
    assert {k: env[k] for k in ("LANG", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "TERM")} == {
        "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "TERM": "dumb"}
    script = ("hostname; pwd; echo pid=$$; for ns in ipc uts net pid; do readlink /proc/self/ns/$ns; done; "
              "grep -E '^Max (data size|processes|file size|open files)' /proc/self/limits; "
              "cat /proc/net/dev | tail -n +3 | cut -d: -f1; echo ENV; env")
    limits = Limits(memory_bytes=300 * 1024 * 1024, processes=50, file_size_bytes=4096, open_files=64)
    out = subprocess.run(box.wrap(["/bin/sh", "-c", script], writable=[ws], cwd=ws, env=env, limits=limits),
                         capture_output=True, text=True, check=True, env=dict(os.environ)).stdout
    lines, inside_env = out.split("ENV\n")
    lines = lines.splitlines()
    assert lines[0] == "sandbox" and lines[1] == str(ws) and lines[2] in ("pid=1", "pid=2")
    host_ns = [os.readlink(f"/proc/self/ns/{ns}") for ns in ("ipc", "uts", "net", "pid")]
    assert all(inner != host for inner, host in zip(lines[3:7], host_ns)), (lines[3:7], host_ns)
    limit_rows = {row[0]: row[1:3] for row in (re.split(r"\s{2,}", line.strip()) for line in lines[7:11])}
    assert limit_rows == {"Max data size": [str(300 * 1024 * 1024)] * 2, "Max processes": ["50", "50"],
                          "Max file size": ["4096", "4096"], "Max open files": ["64", "64"]}
    assert [line.strip() for line in lines[11:]] == ["lo"]  # no interface but its own loopback
    seen = dict(line.split("=", 1) for line in inside_env.splitlines() if "=" in line)
    assert "sk-real-secret" not in inside_env and "OPENAI_API_KEY" not in seen
    assert {k: seen[k] for k in env} == env and set(seen) - set(env) <= {"SHLVL", "_", "OLDPWD"}


def test_the_command_sees_its_own_group_a_device_folder_and_a_private_tmp(tmp_path: Path):
    """The generated /etc/group names the sandbox's group, /dev/null works, /tmp is a writable tmpfs."""
    box = Sandbox.probe("bwrap")
    script = "id -gn; echo x > /dev/null && echo dev-ok; echo t > /tmp/f && cat /tmp/f; stat -f -c %T /tmp"
    out = subprocess.run(box.wrap(["/bin/sh", "-c", script], env={"PATH": "/usr/bin:/bin"}),
                         capture_output=True, text=True, env={}, check=False).stdout
    assert out.split() == ["agent", "dev-ok", "t", "tmpfs"]


def test_an_unconfined_command_runs_in_its_folder_and_without_a_limiter_when_nothing_is_limited(tmp_path: Path):
    box = Sandbox.probe("none")
    ws = tmp_path / "ws"
    ws.mkdir()
    unlimited = Limits(memory_bytes=None, processes=None, file_size_bytes=None, open_files=None)
    argv = box.wrap(["/bin/sh", "-c", "pwd; echo $GD_X"], env={"GD_X": "1"}, cwd=ws, limits=unlimited)
    assert box.prlimit not in argv
    out = subprocess.run(argv, capture_output=True, text=True, check=True, env={}, cwd=tmp_path).stdout
    assert out.split() == [str(ws), "1"]
    here = box.wrap(["/bin/pwd"])  # no folder given: the caller's
    assert subprocess.run(here, capture_output=True, text=True, check=True, cwd=ws).stdout.strip() == str(ws)
    with pytest.raises(ValueError, match="gateway socket must be an absolute path, not gw.sock"):
        GatewayOnly(Path("gw.sock"), direct_url="http://127.0.0.1:9")
