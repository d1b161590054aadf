"""Options and output helpers shared by the CLI groups."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

DEFAULT_STORE = Path("goaldrift-results/store.db")

# Off a terminal (CI logs, pipes) rich would assume 80 columns and squeeze the tables.
console = Console() if sys.stdout.isatty() else Console(width=160)
StoreOption = typer.Option(DEFAULT_STORE, "--store", help="Results database (SQLite); created by `run`.")


def cell(text: object) -> str:
    """Stored or agent-controlled text as one table cell: control characters stripped, a line break
    shown as ``\\n`` (a break would split the row), rich markup escaped."""
    from rich.markup import escape

    from goaldrift.stepview import one_line

    return escape(one_line(str(text)))


def print_json(value: Any) -> None:
    """Machine-readable output goes to stdout unstyled."""
    typer.echo(json.dumps(value, indent=2, default=str))
