"""What the sandbox costs per command and per OpenCode start, old against new, in one run.

    .venv/bin/python benchmarks/bench_sandbox.py [--runs 30] [--starts 3] [--json out.json]

- a trivial command (``/bin/true``), median wall time of ``subprocess.run`` over ``--runs``:
  bare; today's former bubblewrap command line (read-only ``/``, rebuilt here as the baseline);
  the new ``Sandbox.wrap`` with no network (the builtin agent's shell: user namespace, allow-list
  view, rlimits, cgroups where available); the new one with ``GatewayOnly`` (plus the relay, a Python
  start inside);
- an OpenCode ``serve`` start (process start until its event stream answers), median over
  ``--starts``: in the new sandbox and with ``sandbox: none``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from goaldrift.agents.base import AgentLimits, AgentSession
from goaldrift.agents.opencode import OpenCodeAgent
from goaldrift.gateway.app import Gateway
from goaldrift.gateway.backends.scripted import ScriptedBackend
from goaldrift.modelspec import ModelSpec
from goaldrift.sandbox import NO_NETWORK, GatewayOnly, Sandbox, python_dirs


def former_bwrap(argv: list[str], workspace: Path) -> list[str]:
    """The command line goaldrift used before the allow-list sandbox (the baseline)."""
    args = [Sandbox.probe("bwrap").bwrap or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--tmpfs", "/root", "--tmpfs", "/home", "--tmpfs", "/run", "--unshare-pid",
            "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session", "--unshare-net"]
    for d in python_dirs():
        args += ["--ro-bind", str(d), str(d)]
    return [*args, "--bind", str(workspace), str(workspace), "--chdir", str(workspace), "--clearenv", "--", *argv]


def median_ms(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = subprocess.run(argv, capture_output=True, check=False, env={}, stdin=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        assert out.returncode == 0, out.stderr[-300:]
    return round(statistics.median(times) * 1000, 1)


def commands(runs: int) -> dict[str, float]:
    box = Sandbox.probe("bwrap")
    with tempfile.TemporaryDirectory(prefix="gd-bench-") as tmp:
        ws = Path(tmp) / "ws"
        ws.mkdir()
        sock = Path(tmp) / "gw.sock"
        import socket

        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(sock))
        listener.listen()
        try:
            return {
                "bare": median_ms(["/bin/true"], runs),
                "former bwrap (baseline)": median_ms(former_bwrap(["/bin/true"], ws), runs),
                "new sandbox, no network": median_ms(box.wrap(["/bin/true"], writable=[ws], cwd=ws,
                                                              network=NO_NETWORK), runs),
                "new sandbox, gateway relay": median_ms(box.wrap(
                    ["/bin/true"], writable=[ws], cwd=ws, network=GatewayOnly(sock, "http://127.0.0.1:1")), runs),
            }
        finally:
            listener.close()


async def opencode_starts(n: int, sandbox: str) -> float:
    times = []
    async with Gateway() as gw:
        for i in range(n):
            with tempfile.TemporaryDirectory(prefix="gd-bench-oc-") as tmp:
                ws = Path(tmp) / "ws"
                ws.mkdir()
                (Path(tmp) / "agent").mkdir()
                route = gw.open_route(ScriptedBackend(ModelSpec(id="scripted", backend="scripted")), attempt_id=i)
                session = AgentSession(workspace=ws, base_url=gw.url_for(route), api_key=route.token,
                                       model="scripted", limits=AgentLimits(), scratch=Path(tmp) / "agent",
                                       options={"sandbox": sandbox}, gateway_socket=gw.socket_path)
                agent = OpenCodeAgent()
                t = time.perf_counter()
                await agent.start(session)
                times.append(time.perf_counter() - t)
                await agent.stop()
                gw.close_route(route)
    return round(statistics.median(times), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--starts", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    result: dict[str, Any] = {"command_ms": commands(args.runs)}
    base = result["command_ms"]["former bwrap (baseline)"]
    result["command_ratio_vs_former"] = {k: round(v / base, 2) for k, v in result["command_ms"].items()}
    result["opencode_start_s"] = {
        "new sandbox": asyncio.run(opencode_starts(args.starts, "bwrap")),
        "no sandbox": asyncio.run(opencode_starts(args.starts, "none")),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.exit(main())
