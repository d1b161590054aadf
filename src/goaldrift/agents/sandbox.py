"""Keep an agent's commands inside its workspace.

The agent runs commands a model chose after reading adversarial comments. With bubblewrap the whole
filesystem is read-only except the workspace (and a private /tmp), home directories are hidden
(tokens, keys, shell history), the environment is cleared (no API keys), and the network is cut
where the command does not need the gateway. Without bubblewrap we refuse unless the experiment
explicitly says ``sandbox: none`` — never a silent fallback.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from goaldrift.errors import ConfigError

SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def resolve_mode(mode: str) -> str:
    """``auto`` -> ``bwrap`` when available; ``bwrap`` without the binary is an error; ``none`` allowed."""
    if mode not in ("auto", "bwrap", "none"):
        raise ConfigError(f"sandbox must be auto, bwrap or none, not {mode!r}")
    if mode == "none":
        return "none"
    if bwrap_path():
        return "bwrap"
    raise ConfigError(
        "bubblewrap (bwrap) is not installed, so the agent's commands cannot be confined to its workspace: "
        "install it (Debian/Ubuntu: apt-get install bubblewrap) or set agent.options.sandbox: none "
        "to run unconfined at your own risk"
    )


def python_dirs() -> list[str]:
    """Where this Python lives, so the agent can run the repo's tests with it inside the sandbox."""
    dirs = {sys.prefix, sys.base_prefix, str(Path(sys.executable).resolve().parent.parent)}
    return sorted(d for d in dirs if d and Path(d).exists())


def confine(argv: list[str], workspace: Path, *, writable: list[Path] = (), network: bool = False,
            env: dict[str, str] | None = None, mode: str = "bwrap") -> list[str]:
    """Wrap ``argv`` so it runs in ``workspace`` with only ``workspace`` and ``writable`` writable."""
    if mode == "none":
        return argv
    args = [bwrap_path() or "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
            "--tmpfs", "/tmp", "--tmpfs", "/root", "--tmpfs", "/home", "--tmpfs", "/run",
            "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent", "--new-session"]
    if not network:
        args.append("--unshare-net")
    for d in python_dirs():
        args += ["--ro-bind", d, d]
    for d in [workspace, *writable]:
        args += ["--bind", str(d), str(d)]
    args += ["--chdir", str(workspace), "--clearenv"]
    for key, value in (env or {}).items():
        args += ["--setenv", key, value]
    return [*args, "--", *argv]


def agent_env(workspace: Path, home: Path | None = None) -> dict[str, str]:
    """The only environment an agent's command gets: no keys, no tokens, a path to a Python."""
    bindir = str(Path(sys.executable).parent)
    return {"PATH": f"{bindir}:{SAFE_PATH}", "HOME": str(home or "/tmp"), "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "PWD": str(workspace), "TERM": "dumb"}
