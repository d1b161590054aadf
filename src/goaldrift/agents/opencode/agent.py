"""``OpenCodeAgent``: the pinned OpenCode as a goaldrift ``Agent``.

One OpenCode session spans all steps of a run, so context accumulates as in the paper. Each run is
isolated (its own XDG dirs, HOME, TMPDIR, inline config, allow-listed environment) and, where
bubblewrap works, sandboxed so OpenCode can write only the workspace and its scratch directory.

Options (``AgentSession.options``, or the registry's ``options``; see ``config.Settings``):
``driver`` (``serve`` default | ``run``), ``sandbox`` (``auto`` | ``bwrap`` | ``none``),
``permission_policy`` (``reject`` | ``once`` | ``always``: the answer to any permission that would
ask), ``autocompact``, ``context_limit``, ``output_limit``, ``model_retry_limit``, ``startup_timeout_s``,
``startup_retries``, ``max_restarts``, ``formatter``, ``lsp``, ``keep_messages``, ``binary``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from goaldrift.agents.base import AgentSession, StepTrace
from goaldrift.agents.opencode.config import RunDirs, Settings, build_config, build_env, new_password
from goaldrift.agents.opencode.install import OPENCODE_VERSION, binary_version, require_opencode
from goaldrift.agents.opencode.process import bwrap_works, sandbox_argv
from goaldrift.sandbox import python_dirs
from goaldrift.agents.opencode.run_driver import RunDriver
from goaldrift.agents.opencode.serve import ServeDriver
from goaldrift.errors import AgentError, ConfigError

_BWRAP_OK: bool | None = None


def _bwrap_ok() -> bool:
    global _BWRAP_OK
    if _BWRAP_OK is None:
        _BWRAP_OK = bwrap_works()
    return _BWRAP_OK


class OpenCodeAgent:
    name = "opencode"

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = dict(options or {})
        self.driver: ServeDriver | RunDriver | None = None
        self.settings: Settings | None = None
        self.sandboxed = False
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
        workspace = Path(session.workspace).resolve()
        if not workspace.is_dir():
            raise AgentError(f"workspace {workspace} does not exist")
        scratch = session.scratch
        if scratch is None:
            scratch = self._tmp_scratch = Path(tempfile.mkdtemp(prefix="gd-opencode-"))
        dirs = RunDirs(Path(scratch).resolve() / "opencode").create()
        config = build_config(session, dirs, settings)
        password = new_password()
        env = build_env(dirs, config, server_password=password)

        wrap = list
        if settings.sandbox == "bwrap" and not _bwrap_ok():
            raise AgentError("sandbox=bwrap but bubblewrap is missing or cannot create namespaces here: "
                             "install it (`apt-get install bubblewrap`) or use sandbox=auto|none")
        if settings.sandbox in ("auto", "bwrap") and _bwrap_ok():
            readonly = [binary.resolve().parent, *python_dirs()]
            writable = [workspace, dirs.root]

            def wrap(argv, _w=writable, _r=readonly, _cwd=workspace):
                return sandbox_argv(argv, writable=_w, readonly=_r, cwd=_cwd)

            self.sandboxed = True
        elif settings.sandbox == "auto":  # never a silent fallback: the same rule as the builtin agent
            raise ConfigError("bubblewrap (bwrap) is not available, so OpenCode cannot be confined to its "
                              "workspace: install it (apt-get install bubblewrap) or set "
                              "agent.options.sandbox: none to run it unconfined at your own risk")
        session = _with_workspace(session, workspace)
        common = {"binary": binary, "session": session, "settings": settings, "dirs": dirs, "env": env, "wrap": wrap}
        if settings.driver == "serve":
            self.driver = ServeDriver(password=password, **common)
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
        trace.raw["sandbox"] = "bwrap" if self.sandboxed else "none"
        if self._first_step:
            self._first_step = False
            if self.warnings:
                trace.raw["warnings"] = list(self.warnings)
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
    from dataclasses import replace

    return replace(session, workspace=workspace)
