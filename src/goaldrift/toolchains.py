"""Pinned toolchains a non-Python pack's tests need, installed once and mounted read-only at run time.

A pack whose template is not Python names a toolchain (``tests.toolchain`` in ``scenario.yaml``):
the TypeScript compiler for the TypeScript packs (Node 20 runs JavaScript, not ``.ts``). The
toolchain is an npm package at one pinned version, installed at set-up time with
``goaldrift install-toolchain NAME`` into ``$GOALDRIFT_HOME/<name>/<version>`` by the same installer
as the harnesses (``goaldrift.agents.npm_harness``: staged, version-checked, renamed into place).
Nothing is fetched during a run: the completion check, ``scenarios validate --run-tests`` and the
agent's own shell see the installed folder read-only with its ``node_modules/.bin`` first on
``PATH`` — the same compiler everywhere, and none the agent could change. ``tsc`` is plain
JavaScript run by the system's ``node``, so no native binary is involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from goaldrift.agents.npm_harness import NpmHarness
from goaldrift.errors import ConfigError

TOOLCHAINS: dict[str, NpmHarness] = {h.name: h for h in (
    NpmHarness("typescript", "TypeScript", "typescript", "5.9.3", ("node_modules/typescript/bin/tsc",),
               command="install-toolchain"),
)}


@dataclass(frozen=True)
class Mount:
    """An installed toolchain as a sandbox sees it: the folder to bind read-only, the folder for PATH."""

    root: Path
    bin: Path


def toolchain(name: str) -> NpmHarness:
    try:
        return TOOLCHAINS[name]
    except KeyError:
        raise ConfigError(f"unknown toolchain {name!r}: known are {', '.join(TOOLCHAINS)}") from None


def mount(name: str | None) -> Mount | None:
    """The installed, version-checked toolchain ``name`` (None: the pack needs none); ``AgentError``
    saying which command installs it when it is missing."""
    if name is None:
        return None
    chain = toolchain(name)
    chain.require()
    root = chain.install_dir().resolve()
    return Mount(root, root / "node_modules" / ".bin")


def path_with(found: Mount | None, path: str) -> str:
    """``path`` (a PATH value) with the toolchain's bin folder first."""
    return path if found is None else f"{found.bin}:{path}"
