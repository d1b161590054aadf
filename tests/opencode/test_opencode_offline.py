"""Truly offline: OpenCode installs ``@opencode-ai/plugin`` from npm into its config directory at
start-up unless it finds it there; goaldrift seeds every run with the copy the pinned install carries.
With the host's network available (``sandbox: none``), a seeded run makes no npm fetch at all; in
the sandbox there is no network, and every sandboxed test of this suite runs that way."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from goaldrift.agents.opencode.config import RunDirs
from goaldrift.agents.opencode.install import OPENCODE_VERSION, PLUGIN_PACKAGE, plugin_modules
from goaldrift.gateway.app import Gateway

from .conftest import OPENCODE, Run, needs_opencode, scripted


def carried_plugin(home: Path) -> Path:
    """A GOALDRIFT_HOME whose OpenCode is the real one and whose carried plugin is a minimal package
    with the manifest and lock file npm writes (what OpenCode checks)."""
    prefix = home / "opencode" / OPENCODE_VERSION
    prefix.mkdir(parents=True)
    if OPENCODE is not None:  # found before any test changed GOALDRIFT_HOME
        (prefix / "node_modules").symlink_to(OPENCODE.resolve().parents[2])
    plugin = prefix / "plugin"
    package = plugin / "node_modules" / PLUGIN_PACKAGE
    package.mkdir(parents=True)
    (package / "package.json").write_text(json.dumps({"name": PLUGIN_PACKAGE, "version": OPENCODE_VERSION}))
    deps = {"dependencies": {PLUGIN_PACKAGE: OPENCODE_VERSION}}
    (plugin / "package.json").write_text(json.dumps(deps))
    (plugin / "package-lock.json").write_text(json.dumps({"lockfileVersion": 3, "packages": {"": deps}}))
    return plugin / "node_modules"


def test_the_config_directory_is_seeded_with_the_carried_plugin(tmp_path, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_HOME", str(tmp_path / "home"))
    modules = carried_plugin(tmp_path / "home")
    assert plugin_modules() == modules
    dirs = RunDirs.under(tmp_path / "s").create(modules)
    config = dirs.config / "opencode"
    assert (config / "node_modules").resolve() == modules.resolve()
    lock = json.loads((config / "package-lock.json").read_text())
    assert PLUGIN_PACKAGE in lock["packages"][""]["dependencies"]
    assert not RunDirs.under(tmp_path / "t").create(None).config.joinpath("opencode", "node_modules").exists()


@needs_opencode
@pytest.mark.opencode
def test_a_seeded_run_fetches_nothing_even_with_a_network(tmp_path, scenario, monkeypatch):
    monkeypatch.setenv("GOALDRIFT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GOALDRIFT_OPENCODE", raising=False)
    modules = carried_plugin(tmp_path / "home")

    async def main():
        async with Gateway() as gw:
            run = Run(gw, scripted(), tmp_path / "run", scenario, options={"sandbox": "none"})
            await run.agent.start(run.session)
            try:
                trace = await run.step(1, scenario.spec.steps[0].prompt)
                await asyncio.sleep(5)  # OpenCode's install runs in the background after start-up
            finally:
                await run.agent.stop()
            return run, trace

    _, trace = asyncio.run(asyncio.wait_for(main(), 300))
    assert not trace.errors and trace.tool_calls
    opencode = tmp_path / "run" / "agent" / "opencode"
    assert (opencode / "xdg-config" / "opencode" / "node_modules").resolve() == modules.resolve()
    assert not (opencode / "home" / ".npm").exists()  # npm never ran
    assert sorted(p.name for p in modules.iterdir()) == ["@opencode-ai"]  # nothing installed into it
