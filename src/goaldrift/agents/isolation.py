"""A harness process's private folders and its clean environment, the same for every harness.

Each run gets a fresh ``HOME``, ``TMPDIR`` and ``XDG_{DATA,CONFIG,CACHE,STATE}_HOME`` under its
scratch folder, so runs never share a harness's state (sessions, caches, recently used models). Those
live in ``root``, which is writable inside the sandbox. What goaldrift itself writes or trusts — the
harness's logs, a constraint file placed as global instructions, a settings file the harness must not
change — lives in ``host`` beside it, which is never bound writable into the sandbox (mode 0700).

The environment is built from an allow-list: the parent's API keys and other secrets never reach the
agent, which runs commands chosen by a model reading adversarial code.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Self

XDG_KINDS = ("data", "config", "cache", "state")

# Variables copied from the parent when set; everything else is dropped.
ENV_ALLOW = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TERM", "USER",
             "LOGNAME")


@dataclass(frozen=True)
class HarnessDirs:
    """``root``: the harness's state (writable in the sandbox); ``host``: goaldrift's files (never)."""

    root: Path
    host: Path

    @classmethod
    def under(cls, scratch: Path, name: str) -> Self:
        return cls(scratch / name, scratch / f"{name}-host")

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def logs(self) -> Path:
        return self.host / "logs"

    def xdg(self, kind: str) -> Path:
        return self.root / f"xdg-{kind}"

    def create(self) -> Self:
        for d in (self.home, self.tmp, self.logs, *(self.xdg(k) for k in XDG_KINDS)):
            d.mkdir(parents=True, exist_ok=True)
        self.host.chmod(0o700)
        return self


def base_env(dirs: HarnessDirs, parent: dict[str, str] | None = None) -> dict[str, str]:
    """Allow-listed basics and the private folders; nothing else of the parent's environment passes.
    Each harness adds its own switches (offline, telemetry, its configuration) to this."""
    parent = dict(os.environ if parent is None else parent)
    env = {k: parent[k] for k in ENV_ALLOW if k in parent}
    # The agent runs the repo's tests: this Python (which has pytest) first, as for every harness.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                   env.get("PATH") or "/usr/local/bin:/usr/bin:/bin"])
    env.setdefault("LANG", "C.UTF-8")
    env.update({"HOME": str(dirs.home), "TMPDIR": str(dirs.tmp),
                **{f"XDG_{kind.upper()}_HOME": str(dirs.xdg(kind)) for kind in XDG_KINDS},
                "SHELL": "/bin/bash" if Path("/bin/bash").exists() else "/bin/sh"})
    return env
