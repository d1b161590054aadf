"""``OpenCodeAgent``: the pinned OpenCode as a goaldrift ``Agent``.

One OpenCode session spans all steps of a run, so context accumulates as in the paper. Each run is
isolated (its own XDG dirs, HOME, TMPDIR, inline config, allow-listed environment) and sandboxed
(``goaldrift.sandbox``): OpenCode sees only its binary, this Python, the workspace and its own state
directory (writable), the constraint file (read-only); its network is a private namespace whose only
route is the run's gateway; goaldrift reaches its HTTP server through a unix socket the agent cannot
replace. ``sandbox: none`` (explicit) runs it unconfined on the host's loopback.

OpenCode's record of a step is in its own database, which the agent could rewrite, so after every step
the trace is checked against the gateway's record of the route (``goaldrift.tracecheck``): a
difference is a warning stored with the step, and the step's token and call counts are the gateway's.

Options (``AgentSession.options``, or the registry's ``options``; see ``config.Settings``):
``driver`` (``serve`` default | ``run``), ``sandbox`` (``auto`` | ``bwrap`` | ``none``),
``permission_policy`` (``reject`` | ``once`` | ``always``: the answer to any permission that would
ask), ``autocompact``, ``context_limit``, ``output_limit``, ``model_retry_limit``, ``repeat_limit``,
``startup_timeout_s``, ``startup_retries``, ``max_restarts``, ``formatter``, ``lsp``, ``keep_messages``,
``binary``, ``memory_mb``, ``max_processes``.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from goaldrift.agents.base import AgentSession, StepTrace
from goaldrift.agents.opencode.config import RunDirs, Settings, build_config, build_env, new_password
from goaldrift.agents.opencode.install import (
    OPENCODE_VERSION,
    binary_version,
    plugin_modules,
    require_opencode,
)
from goaldrift.agents.opencode.run_driver import RunDriver
from goaldrift.agents.opencode.serve import ServeDriver
from goaldrift.agents.opencode.trace import turn_counts
from goaldrift.errors import AgentError, ConfigError
from goaldrift.sandbox import NO_NETWORK, GatewayOnly, Limits, Sandbox
from goaldrift.toolchains import path_with
from goaldrift.tracecheck import check_against_gateway


class OpenCodeAgent:
    name = "opencode"

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = dict(options or {})
        self.driver: ServeDriver | RunDriver | None = None
        self.settings: Settings | None = None
        self.sandbox: Sandbox | None = None
        self.warnings: list[str] = []
        self._tmp_scratch: Path | None = None
        self._first_step = True
        self._version = f"opencode {OPENCODE_VERSION}"

    def version(self) -> str:
        return self._version

    async def start(self, session: AgentSession) -> None:
        if self.driver is not None:
            raise AgentError("OpenCodeAgent.start called twice; create one agent per run")
        try:
            settings = Settings.from_options({**self.options, **session.options})
        except TypeError as exc:
            raise ConfigError(f"bad opencode option: {exc}") from None
        self.settings = settings
        if settings.binary:
            binary = Path(settings.binary)
            version = binary_version(binary)
            if version is None:
                raise AgentError(f"opencode binary {binary} does not run")
            if version != OPENCODE_VERSION:
                self.warnings.append(f"binary {binary} is OpenCode {version}, not the pinned {OPENCODE_VERSION}")
            self._version = f"opencode {version}"
        else:
            binary = require_opencode()
        binary = binary.resolve()  # the sandbox binds the real directory, so run it by its real path
        workspace = Path(session.workspace).resolve()
        if not workspace.is_dir():
            raise AgentError(f"workspace {workspace} does not exist")
        self.sandbox = sandbox = Sandbox.probe(settings.sandbox)
        scratch = session.scratch
        if scratch is None:
            scratch = self._tmp_scratch = Path(tempfile.mkdtemp(prefix="gd-opencode-"))
        plugin = plugin_modules()
        dirs = RunDirs.under(Path(scratch).resolve()).create(plugin.resolve() if plugin else None)
        base_url = session.base_url
        network = None
        if sandbox.mode == "bwrap":
            if session.gateway_socket is None:
                raise AgentError("the sandboxed OpenCode needs the gateway's unix socket "
                                 "(AgentSession.gateway_socket); none was given")
            network = GatewayOnly(Path(session.gateway_socket), direct_url=session.base_url)
            base_url = sandbox.gateway_url(network) + urlsplit(session.base_url).path
        config = build_config(session, dirs, settings, base_url=base_url)
        password = new_password()
        env = build_env(dirs, config, server_password=password)
        readonly = [binary.parent, *([plugin.resolve()] if plugin else [])]
        # The constraint's files are read-only over the writable workspace: AGENTS.md (as goaldrift
        # wrote it, not a link the agent could plant) and the instructions file.
        agents_md = workspace / "AGENTS.md"
        if agents_md.is_file() and not agents_md.is_symlink():
            readonly.append(agents_md)
        if dirs.instructions_file.exists():
            readonly.append(dirs.instructions_file)
        if session.toolchain is not None:  # the pack's compiler, read-only, so the agent can run the tests
            readonly.append(session.toolchain.root)
            env["PATH"] = path_with(session.toolchain, env["PATH"])
        limits = Limits(memory_bytes=settings.memory_mb * 1024 * 1024, processes=settings.max_processes)

        def wrap(argv: Sequence[str], expose: tuple[tuple[int, int], ...] = ()) -> list[str]:
            net = replace(network, expose=expose) if network is not None else NO_NETWORK
            return sandbox.wrap(argv, writable=[workspace, dirs.root], readonly=readonly, network=net,
                                env=env, cwd=workspace, limits=limits)

        session = _with_workspace(session, workspace)
        common = {"binary": binary, "session": session, "settings": settings, "dirs": dirs, "env": env, "wrap": wrap}
        if settings.driver == "serve":
            self.driver = ServeDriver(password=password, sandboxed=network is not None, **common)
        else:
            self.driver = RunDriver(**common)
        try:
            await self.driver.start()
        except BaseException:
            await self.stop()
            raise

    async def step(self, index: int, prompt: str) -> StepTrace:
        if self.driver is None:
            raise AgentError("OpenCodeAgent.step called before start")
        trace = await self.driver.step(index, prompt)
        gateway_calls = self.driver.session.gateway_calls
        if gateway_calls is not None:
            check_against_gateway(trace, turn_counts(trace), gateway_calls(index))
        trace.raw["sandbox"] = self.sandbox.mode if self.sandbox else "none"
        trace.raw["settings"] = self.driver.settings.model_dump(mode="json")  # the effective options
        if self._first_step:
            self._first_step = False
            trace.warnings.extend(self.warnings)
        return trace

    async def stop(self) -> None:
        if self.driver is not None:
            await self.driver.stop()
        if self._tmp_scratch is not None:
            shutil.rmtree(self._tmp_scratch, ignore_errors=True)
            self._tmp_scratch = None

    def rss_bytes(self) -> int:
        """Resident memory of the OpenCode process tree right now (benchmarks)."""
        return self.driver.rss_bytes() if self.driver else 0


def _with_workspace(session: AgentSession, workspace: Path) -> AgentSession:
    return replace(session, workspace=workspace)
