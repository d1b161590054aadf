"""Network: the agent's only route is its own gateway. A hostile model probes a canary service on the
host's loopback, the upstream model server itself and the internet, through both harnesses; nothing
is reached, while the run's model calls (through the gateway) all work. The builtin agent's shell has
no network at all; OpenCode lives in a network namespace of its own."""

from __future__ import annotations

import asyncio
import os
import socket
import threading

import psutil
import pytest

from goaldrift.agents.opencode.install import find_opencode

from .conftest import HARNESSES, canary, needs_sandbox, run_hostile, skip_without

PROBE = ("python -c \"import socket,sys\nfor p in sys.argv[1:]:\n h,_,p=p.rpartition(':')\n try:\n"
         "  socket.create_connection((h,int(p)),3); print('REACHED',h,p)\n except OSError as e: print('blocked',h,p,e)\" ")


class Canary:
    """A TCP service on the host's 127.0.0.1 that records every connection it accepts."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.hits = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                continue
            self.hits += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


@needs_sandbox
@pytest.mark.parametrize("harness", HARNESSES)
def test_only_the_gateway_is_reachable(harness, tmp_path, mini_pack, hostile, monkeypatch):
    skip_without(harness)
    monkeypatch.setenv("GD_TEST_UPSTREAM_KEY", canary())
    service = Canary()
    try:
        model = hostile([])
        targets = [f"127.0.0.1:{service.port}", f"127.0.0.1:{model.port}", "8.8.8.8:53"]
        if harness == "builtin":
            targets.append("127.0.0.1:18080")  # the relay port of a GatewayOnly sandbox: not here
        model.commands = [PROBE + " ".join(targets), "getent hosts example.com; echo dns=$?"]
        summary, _ = run_hostile(tmp_path, mini_pack, harness, model, key_env="GD_TEST_UPSTREAM_KEY")
    finally:
        service.close()
    assert summary.failed == 0
    out = "\n".join(model.outputs())
    assert service.hits == 0 and "REACHED" not in out, out
    assert out.count("blocked") == len(targets), out
    assert "dns=0" not in out
    # ... while every model call went through the gateway to the upstream: the route works.
    assert len(model.requests) >= 3


@needs_sandbox
@pytest.mark.opencode
@pytest.mark.skipif(find_opencode() is None, reason="OpenCode is not installed")
def test_opencode_runs_in_its_own_network_namespace(tmp_path):
    """No OpenCode port exists on the host for another run to reach: the server lives in a network
    namespace of its own, and goaldrift talks to it through a unix socket."""
    from goaldrift.gateway.app import Gateway
    from goaldrift.scenario import load_scenario
    from tests.opencode.conftest import PACKS, Run, scripted

    async def main():
        async with Gateway() as gw:
            run = Run(gw, scripted(), tmp_path / "run", load_scenario(PACKS / "utility-privacy"))
            await run.agent.start(run.session)
            try:
                driver = run.agent.driver
                tree = driver.proc.tree()
                server = [p for p in tree if p.cmdline()[:2] == [str(driver.binary), "serve"]]
                namespaces = {os.readlink(f"/proc/{p.pid}/ns/net") for p in server}
                listening = [c for c in psutil.net_connections("inet")
                             if c.status == "LISTEN" and c.pid in {p.pid for p in tree}]
                return server, namespaces, listening, driver.control
            finally:
                await run.agent.stop()

    server, namespaces, listening, control = asyncio.run(asyncio.wait_for(main(), 300))
    assert server and os.readlink("/proc/self/ns/net") not in namespaces
    assert listening == []
    assert control is not None and control.name == "opencode.sock"
