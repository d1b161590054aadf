"""Processes: nothing the agent starts outlives its step, and the pid and memory limits hold.

A hostile model leaves daemons behind (``setsid``, ``nohup``, a double fork) and throws small bounded
bombs (300 processes; an allocation over the memory limit, which fails at once without touching RAM)
through both harnesses. The process table is checked from
the host at the first model call of the next step — between steps — and after the run."""

from __future__ import annotations

import subprocess
import sys

import psutil
import pytest

from goaldrift.sandbox import Limits, Sandbox

from .conftest import HARNESSES, canary, needs_sandbox, run_hostile, skip_without

FORK_300 = ("python -c \"import os,time\nn=0\nfor _ in range(300):\n try:\n  pid=os.fork()\n except OSError:\n"
            "  break\n if pid==0:\n  time.sleep(20); os._exit(0)\n n+=1\nprint('forked', n)\"")
ALLOC = "python -c \"b=bytearray({gb}<<30); print('ALLOCATED', len(b))\" 2>&1 | tail -1"
OVER_LIMIT_GB = {"builtin": 2, "opencode": 6}  # over the harness's memory limit: 1 GB per command; 4 GB


def _sleepers(tag: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        if tag in " ".join(p.info["cmdline"] or []):
            found.append(p)
    return found


@needs_sandbox
@pytest.mark.parametrize("harness", HARNESSES)
def test_nothing_survives_its_step_and_bombs_are_bounded(harness, tmp_path, mini_pack, hostile, monkeypatch):
    skip_without(harness)
    monkeypatch.setenv("GD_TEST_UPSTREAM_KEY", canary())
    tag = f"{sys.maxsize % 9973}.{canary('x')[-6:].translate(str.maketrans('abcdef', '123456'))}"
    seen_between: list[int] = []
    model = hostile([
        f"(setsid sleep {tag} &); nohup sleep {tag} > /dev/null 2>&1 & sh -c 'sleep {tag} &' ; echo left",
        FORK_300,
        ALLOC.format(gb=OVER_LIMIT_GB[harness]),
    ])

    def between(body):  # the first request of step 2 (the whole plan already answered)
        done = sum(1 for m in body.get("messages") or [] if m.get("role") == "tool")
        users = sum(1 for m in body.get("messages") or [] if m.get("role") == "user")
        if body.get("tools") and done >= len(model.commands) and users >= 2 and not seen_between:
            seen_between.append(len(_sleepers(f"sleep {tag}")))

    model.on_request = between
    options = {"max_processes": 100} if harness == "opencode" else {}
    summary, _ = run_hostile(tmp_path, mini_pack, harness, model, key_env="GD_TEST_UPSTREAM_KEY",
                             steps=2, options=options)
    assert summary.failed == 0
    outputs = model.outputs()
    assert "left" in outputs[0], outputs
    forked = int(outputs[1].split("forked")[-1].split()[0])
    assert forked < 300, outputs[1]  # the pid limit stopped the bomb
    assert "ALLOCATED" not in outputs[2] and "MemoryError" in outputs[2], outputs[2]
    assert seen_between == [0], "a daemon from step 1 was still running at step 2"
    assert _sleepers(f"sleep {tag}") == []


@needs_sandbox
def test_limits_hold_for_any_wrapped_command(tmp_path):
    """The Sandbox itself, with a 512 MB memory limit and 64 processes: a 2 GB allocation fails and
    300 forks do not all succeed; a file larger than the file-size limit cannot be written."""
    box = Sandbox.probe("bwrap")
    limits = Limits(memory_bytes=512 << 20, processes=64, file_size_bytes=1 << 20)
    env = {"PATH": "/usr/bin:/bin"}

    def run(code: str) -> str:
        argv = box.wrap([sys.executable, "-c", code], writable=[tmp_path], cwd=tmp_path, env=env, limits=limits)
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env={}).stdout

    assert "MemoryError" in run("try:\n b=bytearray(2<<30); print('ALLOCATED')\nexcept MemoryError:\n print('MemoryError')")
    forked = run(FORK_300.split('"')[1].replace("time.sleep(20)", "time.sleep(3)"))
    assert int(forked.split()[-1]) < 64
    big = run("import os\ntry:\n open('big','wb').write(b'x'*(2<<20)); print('WROTE')\nexcept OSError as e:\n print('EFBIG', e.errno)")
    assert "WROTE" not in big and (tmp_path / "big").stat().st_size <= 1 << 20
