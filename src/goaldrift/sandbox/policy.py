"""The values a caller hands to ``Sandbox.wrap``: resource limits and the network policy.

They are plain frozen values so a harness can declare them once per run, record them in a trace and
compare them in tests. The network policy is a value, not a flag: ``NO_NETWORK`` (a private network
namespace with nothing but its own loopback) or ``GatewayOnly`` (the same, plus a relay inside the
namespace whose only destination is the run's gateway, reached through a unix socket bound into the
sandbox). There is deliberately no "host network" value: nothing the agent starts shares the host's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-process resource limits of everything started inside the sandbox (``None``: not limited).

    ``memory_bytes`` is the data-segment limit (RLIMIT_DATA: heap and private writable mappings, so
    runtimes that merely reserve address space still start) and, where goaldrift may create one, a
    memory cgroup for the whole tree; ``processes`` is RLIMIT_NPROC (counted per user namespace) and,
    where possible, a pids cgroup (the only limit that binds when goaldrift runs as root);
    ``file_size_bytes`` is RLIMIT_FSIZE; ``open_files`` is RLIMIT_NOFILE.
    """

    memory_bytes: int | None = 1024 * MiB  # one agent command: a small repository's tests need far less
    processes: int | None = 256
    file_size_bytes: int | None = 512 * MiB
    open_files: int | None = 1024

    def prlimit_args(self) -> list[str]:
        """``prlimit`` options that set these limits (soft = hard, so nothing inside can raise them)."""
        pairs = (("--data", self.memory_bytes), ("--nproc", self.processes),
                 ("--fsize", self.file_size_bytes), ("--nofile", self.open_files))
        return [f"{opt}={n}:{n}" for opt, n in pairs if n is not None]


@dataclass(frozen=True)
class NoNetwork:
    """A private network namespace with only a loopback interface: nothing outside is reachable."""


NO_NETWORK = NoNetwork()

RELAY_PORT = 18080  # where the in-namespace relay listens; the namespace is private, so no clash


@dataclass(frozen=True)
class GatewayOnly:
    """A private network namespace whose only route out is the run's gateway.

    ``socket`` is the gateway's unix socket on the host; ``direct_url`` its TCP address (used only when
    the sandbox is off, ``mode: none``). ``expose`` lists ``(fd, port)`` pairs: an inherited listening
    unix socket ``fd`` whose connections the relay forwards to ``127.0.0.1:port`` inside the namespace
    (how goaldrift reaches a server the harness runs inside, e.g. ``opencode serve``).
    """

    socket: Path
    direct_url: str
    port: int = RELAY_PORT
    expose: tuple[tuple[int, int], ...] = field(default=())

    def __post_init__(self) -> None:
        if not os.path.isabs(self.socket):
            raise ValueError(f"gateway socket must be an absolute path, not {self.socket}")


Network = NoNetwork | GatewayOnly
