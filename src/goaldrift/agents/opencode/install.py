"""Where the pinned OpenCode lives, and how it gets there.

goaldrift drives exactly one OpenCode version (``OPENCODE_VERSION``), installed with npm into a
directory goaldrift manages: ``$GOALDRIFT_HOME/opencode/<version>`` (``GOALDRIFT_HOME`` defaults to
``~/.cache/goaldrift``). The npm package ``opencode-ai`` carries the native binary as an optional
platform dependency (``opencode-linux-x64``...); nothing is downloaded from outside the npm registry.
``GOALDRIFT_OPENCODE`` may name another binary (it must report the pinned version).

The install also carries ``@opencode-ai/plugin`` at the same version, in ``<install dir>/plugin``.
OpenCode installs that package into every config directory at start-up, in the background, from the
npm registry; in goaldrift's sandbox there is no registry, so each run's config directory is seeded
with the carried copy (read-only) and OpenCode finds it already there (verified: with a
``node_modules`` present it does not fetch). Runs are then fully offline.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from goaldrift.errors import AgentError, GoaldriftError

OPENCODE_VERSION = "1.18.33"
NPM_PACKAGE = "opencode-ai"
PLUGIN_PACKAGE = "@opencode-ai/plugin"
INSTALL_COMMAND = "goaldrift install-opencode"


def goaldrift_home() -> Path:
    return Path(os.environ.get("GOALDRIFT_HOME") or Path.home() / ".cache" / "goaldrift").expanduser()


def install_dir(version: str = OPENCODE_VERSION) -> Path:
    return goaldrift_home() / "opencode" / version


def plugin_modules(version: str = OPENCODE_VERSION) -> Path | None:
    """The carried ``node_modules`` holding ``@opencode-ai/plugin``, or None if not installed."""
    modules = install_dir(version) / "plugin" / "node_modules"
    return modules if (modules / PLUGIN_PACKAGE / "package.json").is_file() else None


def _platform_package() -> str:
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), platform.system().lower())
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine().lower())
    return f"opencode-{system}-{arch}"


def binary_in(prefix: Path) -> Path | None:
    """The native binary inside an npm prefix: the platform package's own file first (no wrapper),
    then npm's ``.bin`` link."""
    candidates = [prefix / "node_modules" / _platform_package() / "bin" / "opencode",
                  prefix / "node_modules" / ".bin" / "opencode"]
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    return None


def _quiet_env(tmp: str) -> dict[str, str]:
    """A throw-away environment for ``opencode --version``: nothing of the user's leaks in or out."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": tmp}
    for key in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        env[key] = os.path.join(tmp, key.lower())
    env.update(OPENCODE_DISABLE_AUTOUPDATE="1", OPENCODE_DISABLE_MODELS_FETCH="1",
               OPENCODE_DISABLE_SHARE="1")
    return env


_VERSIONS: dict[tuple[str, int, int], str | None] = {}


def binary_version(binary: Path) -> str | None:
    """What ``opencode --version`` prints, or None if the binary does not run (cached per file)."""
    try:
        st = Path(binary).stat()
    except OSError:
        return None
    key = (str(binary), st.st_mtime_ns, st.st_size)
    if key not in _VERSIONS:
        _VERSIONS[key] = _run_version(binary)
    return _VERSIONS[key]


def _run_version(binary: Path) -> str | None:
    with tempfile.TemporaryDirectory(prefix="gd-ocv-") as tmp:
        try:
            out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=60, check=False,
                                 env=_quiet_env(tmp), stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            return None
    if out.returncode != 0:
        return None
    lines = out.stdout.strip().splitlines()
    return lines[-1].strip() if lines else None


def find_opencode() -> Path | None:
    """The binary goaldrift will drive, or None when it is not installed."""
    override = os.environ.get("GOALDRIFT_OPENCODE")
    if override:
        path = Path(override).expanduser()
        return path if path.is_file() and os.access(path, os.X_OK) else None
    return binary_in(install_dir())


def require_opencode() -> Path:
    """The binary, checked to be the pinned version; ``AgentError`` saying how to fix it otherwise."""
    binary = find_opencode()
    if binary is None:
        raise AgentError(f"OpenCode {OPENCODE_VERSION} is not installed: run `{INSTALL_COMMAND}`")
    version = binary_version(binary)
    if version != OPENCODE_VERSION:
        raise AgentError(f"{binary} reports version {version!r}, goaldrift needs {OPENCODE_VERSION}: "
                         f"run `{INSTALL_COMMAND} --force`")
    return binary


def install_opencode(force: bool = False, log=print) -> Path:
    """Install the pinned OpenCode and its plugin package with npm (idempotent) and verify
    ``opencode --version``."""
    prefix = install_dir()
    existing = binary_in(prefix)
    if existing and not force and binary_version(existing) == OPENCODE_VERSION:
        log(f"OpenCode {OPENCODE_VERSION} is already installed: {existing}")
        if plugin_modules() is None:
            _npm_install(prefix / "plugin", f"{PLUGIN_PACKAGE}@{OPENCODE_VERSION}", log)
        return existing
    _npm_install(prefix, f"{NPM_PACKAGE}@{OPENCODE_VERSION}", log)
    binary = binary_in(prefix)
    if binary is None:
        raise GoaldriftError(f"npm installed {NPM_PACKAGE} but no binary for this platform "
                             f"({_platform_package()}) is in {prefix}/node_modules")
    version = binary_version(binary)
    if version != OPENCODE_VERSION:
        raise GoaldriftError(f"{binary} reports version {version!r} instead of {OPENCODE_VERSION}")
    _npm_install(prefix / "plugin", f"{PLUGIN_PACKAGE}@{OPENCODE_VERSION}", log)
    log(f"installed OpenCode {version}: {binary}")
    return binary


def _npm_install(prefix: Path, package: str, log) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise GoaldriftError("npm is not installed; install Node.js ≥ 18 with npm "
                             "(e.g. `apt-get install nodejs npm`), then run "
                             f"`{INSTALL_COMMAND}` again")
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
