"""Command line: ``python -m analytics <command>``.

    init-db                 create the database and load the demo data (if empty)
    report NAME             print a report as JSON
    exports                 list the registered exports
    export NAME [-o FILE]   run an export and write it (.csv or .jsonl; default: stdout as CSV)
    serve                   run the HTTP API

Global options: ``--db PATH`` (default ``$LUMEN_DB`` or ``lumen-analytics.db``), ``--as-of DATE``.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from analytics import db, seed
from analytics.config import SEED_TODAY, Settings
from analytics.exports import EXPORTS
from analytics.reports import REPORTS


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analytics", description="Lumen customer analytics")
    p.add_argument("--db", type=Path, default=None, help="sqlite database file")
    p.add_argument("--as-of", type=date.fromisoformat, default=SEED_TODAY, help="reporting date (YYYY-MM-DD)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="create the database and load the demo data")
    r = sub.add_parser("report", help="print a report as JSON")
    r.add_argument("name", choices=sorted(REPORTS))
    sub.add_parser("exports", help="list the registered exports")
    e = sub.add_parser("export", help="run an export")
    e.add_argument("name")
    e.add_argument("-o", "--output", type=Path, default=None, help="file to write (.csv or .jsonl)")
    sub.add_parser("serve", help="run the HTTP API")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    db_path = args.db or settings.db_path

    def open_db():
        conn = db.connect(db_path)
        if db.is_empty(conn):
            seed.seed(conn)
        return conn

    if args.command == "init-db":
        conn = open_db()
        print(f"{db_path}: {conn.execute('SELECT COUNT(*) FROM customers').fetchone()[0]} customers")
        return 0
    if args.command == "report":
        print(json.dumps(REPORTS[args.name](open_db(), args.as_of), indent=2))
        return 0
    if args.command == "exports":
        for name in sorted(EXPORTS):
            spec = EXPORTS[name]
            print(f"{name:28} {spec.owner:18} {spec.schedule:10} {spec.description}")
        return 0
    if args.command == "export":
        if args.name not in EXPORTS:
            print(f"unknown export {args.name!r}; known: {', '.join(sorted(EXPORTS))}", file=sys.stderr)
            return 2
        batch = EXPORTS[args.name].build(open_db(), args.as_of)
        if args.output is None:
            batch.to_csv(sys.stdout)
        else:
            batch.write(args.output)
            print(f"wrote {len(batch)} rows to {args.output}", file=sys.stderr)
        return 0
    if args.command == "serve":
        open_db().close()
        from analytics.http_api import serve

        serve(open_db, settings.host, settings.port)
        return 0
    return 2
