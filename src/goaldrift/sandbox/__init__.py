"""One sandbox for everything the agent under test starts: an allow-list view under bubblewrap.

goaldrift runs agents that read adversarial code and run the commands a model chose, so the sandbox
starts from nothing and adds only what a harness needs, instead of hiding parts of the host:

- **files**: ``/usr`` (and the ``/bin``, ``/lib*``, ``/sbin`` links into it) read-only, a handful of
  ``/etc`` files (name resolution, certificates, time zone, the dynamic loader's cache) and a generated
  two-line ``/etc/passwd``/``/etc/group``; this Python's own directories read-only (the agent runs the
  repository's tests); a private ``/tmp``, a minimal ``/dev``, a ``/proc`` of a new pid namespace; then
  exactly the paths the caller names, ``readonly`` or ``writable``. ``/`` is never bound, so the store,
  other runs' workspaces, home directories and ``/etc/shadow`` simply do not exist inside. A read-only
  path inside a writable one (a constraint file) is bound over it, so it cannot be rewritten.
- **identity**: a new user namespace in which the process is uid/gid 65534 with no capabilities and
  may not create further user namespaces;
- **processes**: new pid, IPC, UTS and cgroup namespaces, ``--die-with-parent`` (killing the sandbox's
  bubblewrap kills everything inside, daemons included) and ``--new-session`` (no terminal injection);
  rlimits (``Limits``) on memory, processes, file size and open files, set with ``prlimit`` inside,
  and a pids/memory cgroup per command where goaldrift may create one (``cgroup.py``: the process
  limit binds a root-run goaldrift only that way);
- **environment**: empty, plus exactly the ``env`` the caller gives;
- **network**: always a private network namespace; ``GatewayOnly`` adds the relay (``relay.py``), whose
  only destination is the run's gateway socket.

``Sandbox.probe(mode)`` resolves bubblewrap once and proves the namespaces work by running the real
view. It also makes the calling process (the runner, which holds the API keys in its environment and
its gateway backends) non-dumpable (``PR_SET_DUMPABLE`` 0): even a process of the same user outside a
pid namespace can then neither read its ``/proc/<pid>/environ`` or memory nor ptrace it; ``mode: none`` (explicit, never a fallback) runs commands unconfined with only the environment
cleared and the limits applied.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from goaldrift.errors import ConfigError, SandboxUnavailable
from goaldrift.sandbox import cgroup
from goaldrift.sandbox.policy import NO_NETWORK, GatewayOnly, Limits, Network, NoNetwork

__all__ = [
    "MODES",
    "NO_NETWORK",
    "GatewayOnly",
    "Limits",
    "Network",
    "NoNetwork",
    "Sandbox",
    "SandboxUnavailable",
    "agent_env",
    "python_dirs",
]

MODES = ("auto", "bwrap", "none")
SANDBOX_UID = 65534
RELAY = Path(__file__).with_name("relay.py")
SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# Public files only: certificates, never the private-key folders beside them (/etc/ssl/private).
ETC_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/localtime", "/etc/ld.so.cache",
             "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ssl/certs", "/etc/ssl/openssl.cnf",
             "/etc/ca-certificates", "/etc/ca-certificates.conf", "/etc/pki/ca-trust", "/etc/pki/tls/certs",
             "/etc/alternatives", "/etc/mime.types")
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"


def python_dirs() -> list[Path]:
    """Where this Python lives, so commands inside can run the repository's tests with it."""
    dirs = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}
    return sorted(Path(d) for d in dirs if d and Path(d).is_dir())


def _identity_files() -> Path:
    """A private directory with the minimal passwd and group the sandbox sees (made once per process)."""
    folder = Path(tempfile.mkdtemp(prefix="gd-sandbox-"))
    atexit.register(shutil.rmtree, folder, True)
    (folder / "passwd").write_text(f"root:x:0:0:root:/:/bin/sh\nagent:x:{SANDBOX_UID}:{SANDBOX_UID}:"
                                   "agent:/tmp:/bin/sh\n", encoding="utf-8")
    (folder / "group").write_text(f"root:x:0:\nagent:x:{SANDBOX_UID}:\n", encoding="utf-8")
    for name in ("passwd", "group"):
        (folder / name).chmod(0o644)
    return folder


@dataclass(frozen=True)
class Sandbox:
    """A resolved sandbox: ``mode`` is ``bwrap`` or ``none``; build command lines with ``wrap``."""

    mode: str
    bwrap: str | None
    prlimit: str
    identity: Path | None = None

    # -- construction -------------------------------------------------------------------------

    @classmethod
    def probe(cls, mode: str = "auto") -> Sandbox:
        """The sandbox for ``mode`` (auto | bwrap | none), checked once per process by running it.

        ``auto`` and ``bwrap`` both require a working bubblewrap (``auto`` never falls back silently);
        ``none`` must be asked for explicitly. Raises ``SandboxUnavailable`` saying what to do."""
        if mode not in MODES:
            raise ConfigError(f"sandbox must be one of {', '.join(MODES)}, not {mode!r}")
        key = "none" if mode == "none" else "bwrap"
        _undumpable()
        if key not in _PROBED:
            _PROBED[key] = _probe(key)
        found = _PROBED[key]
        if isinstance(found, SandboxUnavailable):
            raise found
        return found

    # -- command lines ------------------------------------------------------------------------

    def wrap(self, argv: Sequence[str], *, writable: Sequence[Path] = (), readonly: Sequence[Path] = (),
             network: Network = NO_NETWORK, env: Mapping[str, str] | None = None, cwd: Path | None = None,
             limits: Limits | None = None) -> list[str]:
        """``argv`` as a command line that runs it confined: only ``writable`` and ``readonly`` (and
        the system view) visible, exactly ``env`` as its environment, ``network`` as its network,
        ``limits`` on its resources (default ``Limits()``). Start it with an empty or any environment:
        the command line sets its own. Paths must be absolute and free of symlinks (``ConfigError``:
        a symlink planted by the agent must never decide what goaldrift binds)."""
        limits = Limits() if limits is None else limits
        inner = [self.prlimit, *limits.prlimit_args(), "--", *argv] if limits.prlimit_args() else list(argv)
        if self.mode == "none":
            return [*cgroup.join_prefix(limits), "/usr/bin/env", "-i", *(["-C", str(cwd)] if cwd else []),
                    *(f"{k}={v}" for k, v in (env or {}).items()), *inner]
        if isinstance(network, GatewayOnly):
            inner = [sys.executable, "-I", "-S", str(RELAY), "--listen", str(network.port), "--to",
                     str(network.socket), *(a for fd, port in network.expose for a in ("--expose", f"{fd}:{port}")),
                     "--", *inner]
        assert self.bwrap is not None and self.identity is not None
        args = [self.bwrap, "--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
                "--disable-userns", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--unshare-net", "--hostname", "sandbox", "--die-with-parent", "--new-session",
                *_system_view(), "--ro-bind", str(self.identity / "passwd"), "/etc/passwd",
                "--ro-bind", str(self.identity / "group"), "/etc/group",
                "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        if isinstance(network, GatewayOnly):
            args += ["--ro-bind", str(_checked(network.socket)), str(network.socket),
                     "--ro-bind", str(RELAY), str(RELAY)]
        ro = [_checked(p) for p in readonly]
        rw = [_checked(p) for p in writable]
        prefix = cgroup.join_prefix(limits)  # after the checks: a refused command leaves no group behind
        inside = [p for p in ro if any(p.is_relative_to(w) for w in rw)]
        for path in [*python_dirs(), *(p for p in ro if p not in inside)]:
            args += ["--ro-bind", str(path), str(path)]
        for path in rw:
            args += ["--bind", str(path), str(path)]
        for path in inside:  # over the writable binds: constraint files stay read-only
            args += ["--ro-bind", str(path), str(path)]
        if cwd is not None:
            args += ["--chdir", str(cwd)]
        args.append("--clearenv")
        for key, value in (env or {}).items():
            args += ["--setenv", key, value]
        return [*prefix, *args, "--", *inner]

    def gateway_url(self, network: GatewayOnly) -> str:
        """The base address at which a harness inside reaches its gateway (the relay, or directly
        when the sandbox is off)."""
        return f"http://127.0.0.1:{network.port}" if self.mode == "bwrap" else network.direct_url


_PROBED: dict[str, Sandbox | SandboxUnavailable] = {}
_PR_SET_DUMPABLE = 4


def _undumpable() -> None:
    """Keep this process's environment and memory from its own user's other processes (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)


def _checked(path: Path) -> Path:
    """An absolute path whose every component is a real directory or file, not a symlink."""
    path = Path(path)
    if not path.is_absolute():
        raise ConfigError(f"sandbox path {path} must be absolute")
    if os.path.realpath(path) != os.path.normpath(path):
        raise ConfigError(f"sandbox path {path} is or passes through a symlink (to {os.path.realpath(path)}); "
                          "refusing to bind it")
    if not path.exists():
        raise ConfigError(f"sandbox path {path} does not exist")
    return Path(os.path.normpath(path))


def _system_view() -> list[str]:
    """``/usr`` read-only, the merged-/usr links (or directories) beside it, the allow-listed ``/etc``."""
    args = ["--ro-bind", "/usr", "/usr"]
    for link in SYSTEM_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        elif os.path.isdir(link):
            args += ["--ro-bind", link, link]
    for item in ETC_FILES:
        if os.path.exists(item):
            args += ["--ro-bind", item, item]
    return args


def _probe(mode: str) -> Sandbox | SandboxUnavailable:
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return SandboxUnavailable("prlimit (util-linux) is not installed, so the agent's resource limits "
                                  "cannot be set: install util-linux")
    if mode == "none":
        return Sandbox("none", None, prlimit)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return SandboxUnavailable(
            f"bubblewrap (bwrap) is not installed, so the agent cannot be confined: {INSTALL_HINT}, "
            "or set agent.options.sandbox: none to run it unconfined at your own risk")
    box = Sandbox("bwrap", bwrap, prlimit, _identity_files())
    try:
        out = subprocess.run(box.wrap(["/bin/sh", "-c", "test \"$(id -u)\" = 65534 && test ! -e /etc/shadow"]),
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return SandboxUnavailable(f"bubblewrap ({bwrap}) did not run: {exc}")
    if out.returncode != 0:
        return SandboxUnavailable(
            f"bubblewrap ({bwrap}) cannot create the sandbox's namespaces here (exit {out.returncode}: "
            f"{out.stderr.strip()[:300]}): allow unprivileged user namespaces (sysctl "
            "kernel.unprivileged_userns_clone=1 or user.max_user_namespaces>0; in a container, run it with "
            "user namespaces enabled), or set agent.options.sandbox: none to run unconfined at your own risk")
    return box


SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


def agent_env(workspace: Path, home: Path | None = None) -> dict[str, str]:
    """The whole environment of an agent's command: no keys, no tokens, this Python first on PATH."""
    bindir = str(Path(sys.executable).parent)
    return {"PATH": f"{bindir}:{SAFE_PATH}", "HOME": str(home or "/tmp"), "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PWD": str(workspace), "TERM": "dumb"}
