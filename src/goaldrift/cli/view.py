"""``goaldrift view``: the results store in the browser (see docs/viewer.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from goaldrift.cli.common import StoreOption, console
from goaldrift.errors import BadInput


def register(app: typer.Typer) -> None:
    app.command("view")(view)


def view(
    store: Path = StoreOption,
    port: int = typer.Option(8765, "--port", min=1, max=65535, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind. Anything but 127.0.0.1 shows "
                             "your transcripts to the network and lets it set labels."),
    packs: list[Path] = typer.Option(None, "--packs", help="Folder(s) with scenario packs, for the step "
                                     "requests (built-in packs are always searched)."),
) -> None:
    """Browse a results store: the 2×2 overview, runs, steps with transcript and diff, and a
    disagreement queue for manual labels. Stop it with Ctrl-C."""
    import uvicorn
    from rich.markup import escape

    from goaldrift.viewer.app import create_app

    if not Path(store).is_file():
        raise BadInput(f"no results store at {store}: run an experiment first or pass --store PATH")
    app = create_app(Path(store), list(packs or []), host)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    console.print(f"goaldrift view: [bold]http://{host}:{port}/[/] ({escape(str(store))}) — Ctrl-C stops it",
                  highlight=False)
    server.run()
