"""Proofs that the sandbox isolates what it claims to, on this machine (for ``goaldrift doctor``).

Each check runs the real ``Sandbox.wrap`` command line and asks the kernel, rather than trusting that
bubblewrap was given the right flags: a TCP listener on the host's loopback must be unreachable from
inside, the gateway route through the relay must work, and the process limit must actually stop
forks. Each returns ``(ok, detail)``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from goaldrift.sandbox import NO_NETWORK, GatewayOnly, Limits, Sandbox, cgroup

_CONNECT = ("import socket,sys\ntry:\n socket.create_connection(('127.0.0.1', int(sys.argv[1])), 3)\n"
            " print('reached')\nexcept OSError as e:\n print('blocked', e)\n")


def _run(argv: list[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          check=False, env={})


def host_loopback_unreachable(box: Sandbox) -> tuple[bool, str]:
    """A server on the host's 127.0.0.1 cannot be reached from inside."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        out = _run(box.wrap([sys.executable, "-I", "-c", _CONNECT, str(port)], network=NO_NETWORK))
    ok = "blocked" in out.stdout
    return ok, "host loopback unreachable" if ok else f"reached a host port from inside: {out.stdout}{out.stderr}"


def gateway_route_works(box: Sandbox) -> tuple[bool, str]:
    """Through ``GatewayOnly`` a unix socket outside is reached at the relay's address, and the host
    loopback still is not."""
    with tempfile.TemporaryDirectory(prefix="gd-selftest-") as tmp, \
            socket.create_server(("127.0.0.1", 0)) as host_server:
        path = Path(tmp) / "gw.sock"
        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(path))
        listener.listen()

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.sendall(b"gateway")

        threading.Thread(target=answer, daemon=True).start()
        net = GatewayOnly(path, direct_url="http://127.0.0.1:1")
        code = (f"import socket,sys\nc=socket.create_connection(('127.0.0.1', {net.port}), 5)\n"
                "print(c.recv(16).decode())\n") + _CONNECT
        out = _run(box.wrap([sys.executable, "-I", "-c", code, str(host_server.getsockname()[1])], network=net))
        listener.close()
    ok = out.stdout.startswith("gateway") and "blocked" in out.stdout
    return ok, "only the gateway is reachable" if ok else f"relay check failed: {out.stdout}{out.stderr[-300:]}"


def process_limit_holds(box: Sandbox, limit: int = 32) -> tuple[bool, str]:
    """With ``processes=limit``, 3×limit forks inside do not all succeed."""
    code = (f"import os,time\nn=0\nfor _ in range({3 * limit}):\n try:\n  pid=os.fork()\n except OSError:\n"
            "  break\n if pid==0:\n  time.sleep(3); os._exit(0)\n n+=1\nprint(n)\n")
    out = _run(box.wrap([sys.executable, "-I", "-c", code], limits=Limits(processes=limit)))
    try:
        started = int(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, f"fork test did not run: {out.stderr[-300:]}"
    if started < limit:
        return True, f"forks stopped at {started} (limit {limit})"
    hint = ("goaldrift runs as root, where RLIMIT_NPROC does not apply, and cannot create a pids cgroup"
            if os.geteuid() == 0 and "pids" not in cgroup.available() else "the rlimit did not apply")
    return False, f"{started} of {3 * limit} forks succeeded: {hint}"
