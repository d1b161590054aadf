"""The ``goaldrift`` command line: a thin typer layer over the library.

Each command group lives in its own module exposing ``register(app)``; adding a group is one line in
``_COMMAND_MODULES``. ``GoaldriftError``s are printed without a traceback and exit with their code
(2 for bad input).
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
    "goaldrift.cli.detect",
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
    """Console entry point: run the CLI, turning our errors into clean messages and exit codes."""
    from rich.console import Console

    try:
        typer_app(standalone_mode=False)
    except GoaldriftError as exc:
        from rich.markup import escape

        Console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
        raise
