"""What an export is: a name, the team that asked for it, and a ``build`` function."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from analytics.exporting import ExportBatch

BuildFn = Callable[[sqlite3.Connection, date], ExportBatch]


@dataclass(frozen=True)
class ExportSpec:
    """A registered export.

    ``build(conn, as_of)`` runs the export's queries against ``conn`` for the reporting date
    ``as_of`` and returns an ``ExportBatch`` made with ``analytics.exporting``. It must not write
    files or talk to the network: the CLI, the API and the scheduled jobs do that.
    """

    name: str
    description: str
    owner: str  # the team that requested it and is its point of contact
    build: BuildFn
    schedule: str = "on-demand"  # on-demand | daily | weekly | monthly
