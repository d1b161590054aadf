"""The pinned harnesses goaldrift drives, installed from npm into a directory it manages.

Every harness (OpenCode, Claude Code, Codex CLI, Qwen Code) is one npm package at one pinned version,
installed with ``npm install --prefix $GOALDRIFT_HOME/<name>/<version>`` (``GOALDRIFT_HOME`` defaults
to ``~/.cache/goaldrift``). The packages carry their native binaries as optional platform
dependencies, so nothing is downloaded from outside the npm registry, and everything runs offline
afterwards. goaldrift runs the platform package's native binary directly where there is one (no Node
wrapper in between); Qwen Code is a JavaScript bundle run by ``node``. ``GOALDRIFT_<NAME>`` (e.g.
``GOALDRIFT_CLAUDE_CODE``) may name another binary; it must report the pinned version.

An install goes to a temporary folder beside its target and is renamed into place only once the binary
reports the pinned version, so two installs at once, or an interrupted one, never leave a half-installed
harness where goaldrift looks.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from goaldrift.errors import AgentError, ConfigError, GoaldriftError


def goaldrift_home() -> Path:
    return Path(os.environ.get("GOALDRIFT_HOME") or Path.home() / ".cache" / "goaldrift").expanduser()


def _system() -> str:
    return {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), platform.system().lower())


def _arch() -> str:
    return {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())


def _rust_triple() -> str:
    cpu = {"x64": "x86_64", "arm64": "aarch64"}.get(_arch(), _arch())
    return f"{cpu}-unknown-linux-musl" if _system() == "linux" else f"{cpu}-apple-darwin"


@dataclass(frozen=True)
class NpmHarness:
    """One pinned harness: its npm package and where the binary lands inside the prefix.

    ``binaries`` are paths relative to the prefix, tried in order (``{system}``, ``{arch}`` and
    ``{triple}`` are filled in for this machine); the first executable one is the harness.
    """

    name: str  # goaldrift's name, e.g. "claude-code"
    label: str  # for messages, e.g. "Claude Code"
    package: str
    version: str
    binaries: tuple[str, ...]
    command: str = "install-harness"  # the goaldrift command that installs it (toolchains: install-toolchain)

    @property
    def install_command(self) -> str:
        return "goaldrift install-opencode" if self.name == "opencode" else f"goaldrift {self.command} {self.name}"

    @property
    def override_variable(self) -> str:
        return "GOALDRIFT_" + self.name.upper().replace("-", "_")

    def install_dir(self) -> Path:
        return goaldrift_home() / self.name / self.version

    def binary_in(self, prefix: Path) -> Path | None:
        for pattern in self.binaries:
            path = prefix / pattern.format(system=_system(), arch=_arch(), triple=_rust_triple())
            if path.is_file() and os.access(path, os.X_OK):
                return path
        return None

    def find(self) -> Path | None:
        """The binary goaldrift will drive, or None when it is not installed."""
        override = os.environ.get(self.override_variable)
        if override:
            path = Path(override).expanduser()
            return path if path.is_file() and os.access(path, os.X_OK) else None
        return self.binary_in(self.install_dir())

    def require(self) -> Path:
        """The binary, checked to be the pinned version; ``AgentError`` saying how to fix it otherwise."""
        binary = self.find()
        if binary is None:
            raise AgentError(f"{self.label} {self.version} is not installed: run `{self.install_command}`")
        version = binary_version(binary)
        if version != self.version:
            raise AgentError(f"{binary} reports version {version!r}, goaldrift needs {self.version}: "
                             f"run `{self.install_command} --force`")
        return binary


HARNESS_PACKAGES: dict[str, NpmHarness] = {h.name: h for h in (
    NpmHarness("opencode", "OpenCode", "opencode-ai", "1.18.33",
               ("node_modules/opencode-{system}-{arch}/bin/opencode", "node_modules/.bin/opencode")),
    NpmHarness("claude-code", "Claude Code", "@anthropic-ai/claude-code", "2.1.328",
               ("node_modules/@anthropic-ai/claude-code-{system}-{arch}/claude",
                "node_modules/@anthropic-ai/claude-code/bin/claude.exe")),
    NpmHarness("codex", "Codex CLI", "@openai/codex", "0.169.0",
               ("node_modules/@openai/codex-{system}-{arch}/vendor/{triple}/bin/codex", "node_modules/.bin/codex")),
    NpmHarness("qwen-code", "Qwen Code", "@qwen-code/qwen-code", "0.24.4",
               ("node_modules/.bin/qwen",)),
)}


def harness_package(name: str) -> NpmHarness:
    try:
        return HARNESS_PACKAGES[name]
    except KeyError:
        raise ConfigError(f"unknown harness {name!r}: installable are {', '.join(HARNESS_PACKAGES)}") from None


_VERSION = re.compile(r"\b(\d+\.\d+\.\d+)\b")
_VERSIONS: dict[tuple[str, int, int], str | None] = {}


def binary_version(binary: Path) -> str | None:
    """The version ``<binary> --version`` reports (its first x.y.z), or None if it does not run; cached
    per file."""
    try:
        st = Path(binary).stat()
    except OSError:
        return None
    key = (str(binary), st.st_mtime_ns, st.st_size)
    if key not in _VERSIONS:
        _VERSIONS[key] = _run_version(Path(binary))
    return _VERSIONS[key]


def _run_version(binary: Path) -> str | None:
    """``--version`` in a throw-away home with every harness's offline switches: nothing of the user's
    leaks in or out, nothing is fetched."""
    with tempfile.TemporaryDirectory(prefix="gd-version-") as tmp:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp, "CODEX_HOME": tmp,
               "OPENCODE_DISABLE_AUTOUPDATE": "1", "OPENCODE_DISABLE_MODELS_FETCH": "1",
               "DISABLE_AUTOUPDATER": "1", "DISABLE_TELEMETRY": "1",
               "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
        for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            env[key] = os.path.join(tmp, key.lower())
        try:
            out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60,
                                 check=False, env=env, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return None
    match = _VERSION.search(out.stdout) if out.returncode == 0 else None
    return match.group(1) if match else None


def install(harness: NpmHarness, force: bool = False, log: Callable[[str], None] = print) -> Path:
    """Install the pinned harness with npm (idempotent; ``force`` reinstalls) and verify its version."""
    prefix = harness.install_dir()
    existing = harness.binary_in(prefix)
    if existing and not force and binary_version(existing) == harness.version:
        log(f"{harness.label} {harness.version} is already installed: {existing}")
        return existing
    prefix.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{harness.version}-", dir=prefix.parent))
    try:
        npm_install(staging, f"{harness.package}@{harness.version}", log)
        staged = harness.binary_in(staging)
        if staged is None:
            raise GoaldriftError(f"npm installed {harness.package} but no binary for this platform "
                                 f"({_system()}-{_arch()}) is in it")
        version = binary_version(staged)
        if version != harness.version:
            raise GoaldriftError(f"{harness.package} installed a binary reporting version {version!r} "
                                 f"instead of {harness.version}")
        old = prefix.with_name(prefix.name + ".old")
        if prefix.exists():
            shutil.rmtree(old, ignore_errors=True)
            prefix.rename(old)
        staging.rename(prefix)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    binary = harness.binary_in(prefix)
    if binary is None:
        raise GoaldriftError(f"{harness.label} vanished from {prefix} while it was installed; run the install again")
    log(f"installed {harness.label} {harness.version}: {binary}")
    return binary


def npm_install(prefix: Path, package: str, log: Callable[[str], None]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise GoaldriftError("npm is not installed; install Node.js ≥ 20 with npm "
                             "(e.g. `apt-get install nodejs npm`), then run the install again")
    prefix.mkdir(parents=True, exist_ok=True)
    cmd = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", package]
    log("running: " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL,
                              check=False)
    except subprocess.TimeoutExpired:
        raise GoaldriftError("npm install did not finish within 15 minutes; check your network or "
                             "npm registry settings and retry") from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise GoaldriftError(f"npm install of {package} failed (exit {proc.returncode}):\n{tail}")
