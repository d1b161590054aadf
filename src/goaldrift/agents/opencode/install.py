"""Where the pinned OpenCode lives, and how it gets there.

The binary is one of goaldrift's pinned npm harnesses (``agents/npm_harness.py``: the npm package
``opencode-ai``, installed into ``$GOALDRIFT_HOME/opencode/<version>``; ``GOALDRIFT_OPENCODE`` may name
another binary, which must report the pinned version). This module adds what only OpenCode needs.

The install also carries ``@opencode-ai/plugin`` at the same version, in ``<install dir>/plugin``.
OpenCode installs that package into every config directory at start-up, in the background, from the
npm registry; in goaldrift's sandbox there is no registry, so each run's config directory is seeded
with the carried copy (read-only) and OpenCode finds it already there (verified: with a
``node_modules`` present it does not fetch). Runs are then fully offline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from goaldrift.agents.npm_harness import HARNESS_PACKAGES, binary_version, install, npm_install

__all__ = ["INSTALL_COMMAND", "OPENCODE_VERSION", "PLUGIN_PACKAGE", "binary_version", "find_opencode",
           "install_dir", "install_opencode", "plugin_modules", "require_opencode"]

HARNESS = HARNESS_PACKAGES["opencode"]
OPENCODE_VERSION = HARNESS.version
PLUGIN_PACKAGE = "@opencode-ai/plugin"
INSTALL_COMMAND = HARNESS.install_command


def install_dir() -> Path:
    return HARNESS.install_dir()


def plugin_modules() -> Path | None:
    """The carried ``node_modules`` holding ``@opencode-ai/plugin``, or None if not installed."""
    modules = install_dir() / "plugin" / "node_modules"
    return modules if (modules / PLUGIN_PACKAGE / "package.json").is_file() else None


def find_opencode() -> Path | None:
    """The binary goaldrift will drive, or None when it is not installed."""
    return HARNESS.find()


def require_opencode() -> Path:
    """The binary, checked to be the pinned version; ``AgentError`` saying how to fix it otherwise."""
    return HARNESS.require()


def install_opencode(force: bool = False, log: Callable[[str], None] = print) -> Path:
    """Install the pinned OpenCode and its plugin package with npm (idempotent) and verify
    ``opencode --version``."""
    binary = install(HARNESS, force=force, log=log)
    if plugin_modules() is None:
        npm_install(install_dir() / "plugin", f"{PLUGIN_PACKAGE}@{OPENCODE_VERSION}", log)
    return binary
