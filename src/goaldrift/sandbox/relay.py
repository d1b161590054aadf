"""The in-namespace relay: the only way out of a sandbox with ``GatewayOnly`` networking.

Runs *inside* bubblewrap, in the sandbox's private network namespace, as the parent of the harness:
``relay.py --listen PORT --to SOCKET [--expose FD:PORT ...] -- command...``. It listens on
``127.0.0.1:PORT`` and copies each connection to the gateway's unix socket (bound read-only into the
sandbox), so the harness's only reachable address is its gateway. ``--expose`` does the reverse for
goaldrift: connections accepted on an inherited listening unix socket (created by goaldrift outside
the sandbox, so the agent cannot replace its path) are copied to ``127.0.0.1:PORT`` inside, e.g. to
``opencode serve``. The command runs as a child without those file descriptors; the relay exits with
its exit code. It makes itself non-dumpable so the agent, the same user, cannot ptrace it or take its
descriptors.

Standalone on purpose: it is started with ``python -I -S`` and imports only the standard library.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import socket
import sys

_PR_SET_DUMPABLE = 4


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _join(client: tuple[asyncio.StreamReader, asyncio.StreamWriter], connect) -> None:
    c_reader, c_writer = client
    try:
        u_reader, u_writer = await connect()
    except OSError:
        c_writer.close()
        return
    await asyncio.gather(_pipe(c_reader, u_writer), _pipe(u_reader, c_writer))


async def _main(listen: int, target: str, expose: list[tuple[int, int]], argv: list[str]) -> int:
    servers = [await asyncio.start_server(
        lambda r, w: _join((r, w), lambda: asyncio.open_unix_connection(target)), "127.0.0.1", listen)]
    for fd, port in expose:
        sock = socket.socket(fileno=fd)
        servers.append(await asyncio.start_unix_server(
            lambda r, w, _p=port: _join((r, w), lambda: asyncio.open_connection("127.0.0.1", _p)), sock=sock))
    child = await asyncio.create_subprocess_exec(*argv, close_fds=True)
    code = await child.wait()
    for server in servers:
        server.close()
    return code


def main(args: list[str]) -> int:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    split = args.index("--")
    opts, argv = args[:split], args[split + 1:]
    listen, target, expose = 0, "", []
    for i in range(0, len(opts), 2):
        key, value = opts[i], opts[i + 1]
        if key == "--listen":
            listen = int(value)
        elif key == "--to":
            target = value
        elif key == "--expose":
            fd, port = value.split(":")
            expose.append((int(fd), int(port)))
    if not argv or not listen or not target:
        print("usage: relay.py --listen PORT --to SOCKET [--expose FD:PORT] -- command...", file=sys.stderr)
        return 2
    return asyncio.run(_main(listen, target, expose, argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
