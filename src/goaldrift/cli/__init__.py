"""The ``goaldrift`` command line: a thin typer layer over the library.

Each command group lives in its own module exposing ``register(app)``; adding a group is one line in
``_COMMAND_MODULES``. Exit codes: 0 when the command did all it was asked (for ``run`` and ``demo``:
every planned run finished), 1 when something failed (runs, judge calls, a required component), 2
for bad input (a usage error or a ``BadInput``, reported before anything is written).
``GoaldriftError``s are printed without a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

from goaldrift import __version__
from goaldrift.errors import GoaldriftError

_COMMAND_MODULES = [
    "goaldrift.cli.run",
    "goaldrift.cli.scenarios",
    "goaldrift.cli.demo",
    "goaldrift.cli.model",
    "goaldrift.cli.doctor",
    "goaldrift.cli.analysis",
    "goaldrift.cli.view",
    "goaldrift.cli.detect",
    "goaldrift.cli.plan",
    "goaldrift.cli.clean",
    "goaldrift.cli.show",
    "goaldrift.cli.rerun",
]

typer_app = typer.Typer(
    name="goaldrift",
    help="Measure how coding agents drift from explicit instructions under value conflict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"goaldrift {__version__}")
        raise typer.Exit()


@typer_app.callback()
def _main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                        help="Print the version and exit.")) -> None:
    """goaldrift: run value-conflict experiments on coding agents and read their drift."""


for _name in _COMMAND_MODULES:
    importlib.import_module(_name).register(typer_app)


def app() -> None:
    """Console entry point: run the CLI, turning our errors into clean messages and exit codes.

    Click runs in its standalone mode, so ``typer.Exit(code)`` and usage errors (exit 2, a message,
    no traceback) behave as documented; a ``GoaldriftError`` passes through click untouched and is
    printed here with its own exit code (2 for bad input).
    """
    try:
        typer_app()
    except GoaldriftError as exc:
        from rich.console import Console
        from rich.markup import escape

        # soft_wrap: never insert line breaks (off a terminal rich would wrap at 80 columns, splitting
        # file/field/reason lines that tools and people grep for)
        Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
