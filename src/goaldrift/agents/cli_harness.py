"""What the command-line harnesses (Claude Code, Codex CLI, Qwen Code) share: one process per step.

These harnesses have a non-interactive mode that runs one turn, prints its events as JSON lines and
exits, and a way to continue the same session in the next process (Claude Code ``--resume <id>``,
Codex ``exec resume <id>``, Qwen Code ``--resume <id>``). So a run is one session across its steps, as
in the paper, with one process per step; the session lives in the harness's own files under the run's
private home, which persists between the steps.

``CliAgent`` does everything that is the same for all of them, exactly as the OpenCode driver does it:

- **isolation**: a private ``HOME``, XDG directories and ``TMPDIR`` under the run's scratch folder
  (writable in the sandbox), goaldrift's own files (logs, the constraint file) in a second folder that
  is never bound writable; an environment built from an allow-list plus the harness's own offline
  switches; the per-run gateway token as its only credential;
- **sandbox**: ``Sandbox.wrap`` with ``GatewayOnly`` networking, so the harness's base URL is the
  in-namespace relay (``http://127.0.0.1:18080/r/<token>…``) and nothing else is reachable; the
  harness's own sandbox and permission prompts are switched off by each subclass in favour of this one;
- **limits**: the step's process is killed (its whole group, then every descendant) at the wall-clock
  limit, or when the events show more tool calls or tokens than ``AgentLimits`` allow; a harness that
  exits with an error is a step error with the tail of its log; nothing outlives the step, because
  the sandbox's pid namespace dies with the process.

A subclass says how to call its harness (``prepare`` writes its files and returns its environment,
``argv`` is a step's command line) and how to read its events (``count`` while running, ``fold`` into a
``StepTrace`` after).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationError

from goaldrift.agents.base import AgentOptions, AgentSession, StepTrace
from goaldrift.agents.isolation import HarnessDirs, base_env
from goaldrift.agents.npm_harness import NpmHarness, binary_version
from goaldrift.agents.opencode.config import PLACEMENTS
from goaldrift.agents.opencode.process import ManagedProcess
from goaldrift.errors import AgentError, ConfigError, format_validation
from goaldrift.sandbox import NO_NETWORK, GatewayOnly, Limits, Network, Sandbox
from goaldrift.sandbox.hostfiles import tail_lines
from goaldrift.toolchains import path_with

MAX_LINE = 16 * 1024 * 1024  # the longest event line read; a longer one ends the step with an error


class CliOptions(AgentOptions):
    """Options every command-line harness has (``agent.options``)."""

    binary: str | None = Field(None, description="another binary of the harness (a version other than the "
                               "pinned one is recorded as a warning)")
    model_retry_limit: int = Field(2, ge=0, description="the harness's own retries of a failed model call "
                                   "(the gateway's backends already retried upstream)")
    keep_events: bool = Field(True, description="the harness's event lines in trace.raw['events']")
    memory_mb: int = Field(4096, ge=64, description="per-process data limit (and memory cgroup) in the sandbox")
    max_processes: int = Field(512, ge=8, description="processes in the sandbox (rlimit; pids cgroup)")

    @classmethod
    def from_options(cls, options: dict[str, Any], harness: str) -> CliOptions:
        try:
            return cls.model_validate(options)
        except ValidationError as exc:
            raise ConfigError(format_validation(f"{harness} options", exc)) from None


@dataclass
class StepNotes:
    """What the driver observed while the step's process ran, merged into the trace."""

    errors: list[str] = field(default_factory=list)
    limit_hit: str | None = None
    tool_calls: int = 0
    tokens: int = 0

    def apply(self, trace: StepTrace) -> StepTrace:
        seen = set(trace.errors)
        trace.errors = [e for e in self.errors if e not in seen] + trace.errors
        trace.limit_hit = trace.limit_hit or self.limit_hit
        return trace


class CliAgent:
    """One session of a command-line harness across a run's steps, one sandboxed process per step."""

    name: ClassVar[str]
    package: ClassVar[NpmHarness]
    options_model: ClassVar[type[CliOptions]] = CliOptions

    def __init__(self, options: dict[str, Any] | None = None):
        self.options = dict(options or {})
        self.settings: CliOptions | None = None
        self.session: AgentSession | None = None
        self.session_id: str | None = None  # the harness's own session/thread id, from step 1's events
        self.binary: Path | None = None
        self.dirs: HarnessDirs | None = None
        self.sandbox: Sandbox | None = None
        self.proc: ManagedProcess | None = None
        self.warnings: list[str] = []
        self.peak_rss = 0
        self._env: dict[str, str] = {}
        self._readonly: list[Path] = []
        self._network: GatewayOnly | None = None
        self._tmp_scratch: Path | None = None
        self._count = 0
        self._version = f"{self.name} {self.package.version}"

    def version(self) -> str:
        return self._version

    # -- what a harness defines -------------------------------------------------------------------

    def prepare(self, session: AgentSession, gateway_url: str) -> dict[str, str]:
        """Write the harness's files for this run (config, instruction file) and return its own
        environment variables; ``gateway_url`` is the route's base as seen from inside (…/r/<token>)."""
        raise NotImplementedError

    def argv(self, prompt: str) -> list[str]:
        """The step's command line; continues ``self.session_id`` when it is set."""
        raise NotImplementedError

    def count(self, event: dict[str, Any]) -> tuple[int, int]:
        """Tool calls started and tokens spent that this event reports (for the limits)."""
        raise NotImplementedError

    def fold(self, events: list[dict[str, Any]]) -> StepTrace:
        """The step's trace from its events; sets ``self.session_id`` on the first step."""
        raise NotImplementedError

    def keep(self, event: dict[str, Any]) -> bool:
        """Whether ``keep_events`` stores this event (a harness drops its streaming deltas)."""
        return True

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, session: AgentSession) -> None:
        if self.session is not None:
            raise AgentError(f"{type(self).__name__}.start called twice; create one agent per run")
        settings = self.settings = self.options_model.from_options({**self.options, **session.options}, self.name)
        if session.placement not in PLACEMENTS:
            raise ConfigError(f"unknown constraint placement {session.placement!r}: use one of {PLACEMENTS}")
        if session.placement != "agents_md" and not session.constraint.strip():
            raise ConfigError(f"placement {session.placement!r} needs the constraint text (AgentSession.constraint)")
        if settings.binary:
            binary = Path(settings.binary)
            version = binary_version(binary)
            if version is None:
                raise AgentError(f"{self.name} binary {binary} does not run")
            if version != self.package.version:
                self.warnings.append(f"binary {binary} is {self.package.label} {version}, "
                                     f"not the pinned {self.package.version}")
            self._version = f"{self.name} {version}"
        else:
            binary = self.package.require()
        self.binary = binary.resolve()  # the sandbox binds the real directory, so run it by its real path
        workspace = Path(session.workspace).resolve()
        if not workspace.is_dir():
            raise AgentError(f"workspace {workspace} does not exist")
        self.session = session = replace(session, workspace=workspace)
        self.sandbox = Sandbox.probe(settings.sandbox)
        scratch = session.scratch
        if scratch is None:
            scratch = self._tmp_scratch = Path(tempfile.mkdtemp(prefix=f"gd-{self.name}-"))
        self.dirs = HarnessDirs.under(Path(scratch).resolve(), self.name).create()
        gateway = session.base_url
        if self.sandbox.mode == "bwrap":
            if session.gateway_socket is None:
                raise AgentError(f"the sandboxed {self.package.label} needs the gateway's unix socket "
                                 "(AgentSession.gateway_socket); none was given")
            self._network = GatewayOnly(Path(session.gateway_socket), direct_url=session.base_url)
            gateway = self.sandbox.gateway_url(self._network) + urlsplit(session.base_url).path
        # The route's base without the OpenAI-style "/v1": each harness adds what its protocol needs.
        gateway = gateway.removesuffix("/").removesuffix("/v1")
        # The package's folder (a JavaScript harness needs its whole package), read-only.
        self._readonly = [_package_root(self.binary)]
        agents_md = workspace / "AGENTS.md"  # as goaldrift wrote it, never a link the agent planted
        if agents_md.is_file() and not agents_md.is_symlink():
            self._readonly.append(agents_md)
        plain = {"NO_COLOR": "1", "TERM": "dumb", "CI": "1"}  # non-interactive output
        self._env = {**base_env(self.dirs), **plain, **self.prepare(session, gateway)}
        if session.toolchain is not None:  # the pack's compiler, so the agent can run the tests
            self._readonly.append(session.toolchain.root)
            self._env["PATH"] = path_with(session.toolchain, self._env["PATH"])

    def readonly(self, path: Path) -> Path:
        """Bind ``path`` (a constraint file the harness reads) read-only, over the writable folders."""
        self._readonly.append(path)
        return path

    def _wrap(self, argv: Sequence[str]) -> list[str]:
        assert self.sandbox is not None and self.dirs is not None and self.session is not None
        settings = self.settings
        assert settings is not None
        limits = Limits(memory_bytes=settings.memory_mb * 1024 * 1024, processes=settings.max_processes)
        network: Network = self._network or NO_NETWORK
        return self.sandbox.wrap(argv, writable=[self.session.workspace, self.dirs.root], readonly=self._readonly,
                                 network=network, env=self._env, cwd=self.session.workspace, limits=limits)

    async def step(self, index: int, prompt: str) -> StepTrace:
        if self.session is None or self.dirs is None:
            raise AgentError(f"{type(self).__name__}.step called before start")
        t0 = time.monotonic()
        notes = StepNotes()
        self.peak_rss = 0
        events = await self._run(self.argv(prompt), notes)
        trace = notes.apply(self.fold(events))
        trace.raw.update(session_id=self.session_id, wall_s=round(time.monotonic() - t0, 3),
                         sandbox=self.sandbox.mode if self.sandbox else "none",
                         peak_rss_mb=round(self.peak_rss / 2**20))
        if self.settings and self.settings.keep_events:
            trace.raw["events"] = [e for e in events if self.keep(e)]
        if self.warnings and index == 1:
            trace.warnings.extend(self.warnings)
        return trace

    async def _run(self, argv: list[str], notes: StepNotes) -> list[dict[str, Any]]:
        """Run one step's process to its end or a limit; its JSON event lines."""
        assert self.session is not None and self.dirs is not None
        limits = self.session.limits
        deadline = time.monotonic() + limits.wall_time_s
        self._count += 1
        log = self.dirs.logs / f"step-{self._count}.log"
        with open(log, "xb") as err:  # noqa: ASYNC230 — goaldrift's own log folder
            self.proc = proc = await ManagedProcess.start(
                self._wrap(argv), env={}, cwd=self.session.workspace, stdout=asyncio.subprocess.PIPE,
                stderr=err, line_limit=MAX_LINE)
        assert proc.proc.stdout is not None
        events: list[dict[str, Any]] = []
        stopped = False
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    notes.limit_hit = "wall_time"
                    notes.errors.append(f"step stopped at the wall-clock limit ({limits.wall_time_s:g} s)")
                    stopped = True
                    break
                self.peak_rss = max(self.peak_rss, proc.rss_bytes())
                try:
                    line = await asyncio.wait_for(proc.proc.stdout.readline(), min(1.0, left))
                except TimeoutError:
                    continue
                except ValueError:  # a line longer than MAX_LINE
                    notes.errors.append(f"{self.name} printed an event line over {MAX_LINE} bytes; step stopped")
                    stopped = True
                    break
                if not line:
                    break
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if not isinstance(event, dict):
                    continue
                events.append(event)
                calls, tokens = self.count(event)
                notes.tool_calls += calls
                notes.tokens += tokens
                if notes.tool_calls > limits.max_tool_calls:
                    notes.limit_hit, stopped = "tool_calls", True
                    break
                if notes.tokens >= limits.max_tokens:
                    notes.limit_hit, stopped = "tokens", True
                    break
            code = None if stopped else await proc.wait(max(1.0, deadline - time.monotonic()))
        finally:
            await proc.stop()
        if not stopped and code not in (0, None):
            notes.errors.append(f"{self.name} exited with code {code}: {tail_lines(log, 5)}")
        return events

    async def stop(self) -> None:
        if self.proc is not None:
            await self.proc.stop()
        if self._tmp_scratch is not None:
            shutil.rmtree(self._tmp_scratch, ignore_errors=True)
            self._tmp_scratch = None

    def rss_bytes(self) -> int:
        """Resident memory of the harness's process tree right now (benchmarks)."""
        return self.proc.rss_bytes() if self.proc and self.proc.alive() else 0


def _package_root(binary: Path) -> Path:
    """The npm prefix's ``node_modules`` folder holding the binary (or the binary's folder)."""
    for parent in binary.parents:
        if parent.name == "node_modules":
            return parent
    return binary.parent


def write_constraint(path: Path, text: str) -> Path:
    """A constraint file goaldrift writes for the harness to read (bound read-only by the caller)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip() + "\n", encoding="utf-8")
    return path


def text_of(content: Any) -> str:
    """The text of a tool result: a string, or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text")
    return "" if content is None else json.dumps(content)
