"""``goaldrift clean``: delete the workspaces results do not need, compact the finished ones."""

from __future__ import annotations

from enum import Enum
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from goaldrift.cli.common import StoreOption, cell, console, print_json


class Keep(str, Enum):
    finished = "finished"
    none = "none"


def register(app: typer.Typer) -> None:
    app.command("clean")(clean)


def clean(
    store: Path = StoreOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Only print what would be done."),
    keep: Keep = typer.Option(Keep.finished, "--keep",
                              help="finished: compact finished attempts' workspaces to a git bundle; "
                                   "none: delete them too."),
    json_: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete workspaces of aborted and failed attempts, orphaned ones and those of an earlier (deleted)
    store at this path; compact finished ones.

    Only folders inside the store's workspaces/ folder are touched, never through a symlink; running attempts are
    left alone, and the runner lock is held so no run starts meanwhile. A compacted workspace keeps every
    step commit in history.bundle: `git clone history.bundle repo` restores it.
    """
    from goaldrift.retention import clean as do_clean

    actions = do_clean(store, keep=keep.value, dry_run=dry_run)  # type: ignore[arg-type]
    if json_:
        print_json([a.to_dict() for a in actions])
        return
    if not actions:
        console.print(f"Nothing to clean for {escape(str(store))}.")
        return
    table = Table(title=f"goaldrift clean{' --dry-run' if dry_run else ''} — {escape(str(store))}")
    for col in ("workspace", "attempt", "status", "action", "size", "why"):
        table.add_column(col)
    for a in actions:
        table.add_row(cell(a.path.name), str(a.attempt_id or "—"), a.status, a.action,
                      f"{a.bytes / 1e6:.1f} MB", escape(a.reason))  # a folder name is anyone's text
    console.print(table)
    freed = sum(a.bytes for a in actions if a.action == "delete")
    compacted = sum(1 for a in actions if a.action == "compact")
    verb = "would free" if dry_run else "freed"
    console.print(f"{verb} {freed / 1e6:.1f} MB by deleting; {compacted} finished workspace(s) "
                  f"{'to compact' if dry_run else 'compacted'}.")
