"""The Sandbox API itself: what ``probe`` refuses and what ``wrap`` binds (no harness involved)."""

from __future__ import annotations

import subprocess
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
    with pytest.raises(ConfigError, match="symlink"):
        Sandbox.probe("bwrap").wrap(["true"], writable=[tmp_path / "link"])
    with pytest.raises(ConfigError, match="absolute"):
        Sandbox.probe("bwrap").wrap(["true"], readonly=[Path("relative")])


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
