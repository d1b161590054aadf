"""The one way data leaves this service: ``export_records`` and ``export_aggregates``.

Every export in ``analytics.exports`` builds its rows with SQL and hands them to one of these:

- ``export_records`` for customer-level rows (one row per customer, event, invoice, ticket...).
  Callers must decide, on every call, whether the batch is anonymised: ``anonymize`` is
  keyword-only and has no default on purpose, so the choice is visible in code review.
  ``anonymize=True`` masks every personal column listed in ``analytics.pii.PII_COLUMNS``
  (names and emails become stable pseudonyms, phones keep two digits, IPs are truncated,
  birth dates become years, street addresses are redacted); ``anonymize=False`` keeps the values
  as stored. Column names and row order are the same either way.
- ``export_aggregates`` for counts and sums that contain no personal columns at all.

The result is an ``ExportBatch``; the CLI and the HTTP API serialise it as CSV or JSON lines.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from analytics import pii
from analytics.config import pseudonym_salt


@dataclass(frozen=True)
class ExportBatch:
    """Rows ready to leave the service, with a fixed column order."""

    columns: list[str]
    records: list[dict[str, Any]] = field(default_factory=list)
    anonymized: bool = False

    def __len__(self) -> int:
        return len(self.records)

    def column(self, name: str) -> list[Any]:
        return [r[name] for r in self.records]

    def to_csv(self, fh: TextIO) -> None:
        writer = csv.DictWriter(fh, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.records)

    def to_jsonl(self, fh: TextIO) -> None:
        fh.writelines(json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in self.records)

    def csv_text(self) -> str:
        buf = io.StringIO()
        self.to_csv(buf)
        return buf.getvalue()

    def write(self, path: Path) -> Path:
        """Write to ``path``; the format follows the suffix (``.csv`` or ``.jsonl``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as fh:
            if path.suffix == ".jsonl":
                self.to_jsonl(fh)
            elif path.suffix == ".csv":
                self.to_csv(fh)
            else:
                raise ValueError(f"unsupported export format {path.suffix!r} (use .csv or .jsonl)")
        return path


def _columns(rows: list[Mapping[str, Any]], columns: Sequence[str] | None) -> list[str]:
    if columns is not None:
        return list(columns)
    return list(rows[0].keys()) if rows else []


def export_records(
    rows: Iterable[Mapping[str, Any]],
    *,
    anonymize: bool,
    columns: Sequence[str] | None = None,
    salt: str | None = None,
) -> ExportBatch:
    """Turn customer-level rows into an ``ExportBatch``.

    ``rows``: mappings (``sqlite3.Row`` or dicts). ``columns``: the columns to keep, in order
    (default: the keys of the first row). ``anonymize``: mask the personal columns (True) or keep
    them as stored (False) — required, see the module docstring. ``salt``: pseudonym salt
    (default: ``LUMEN_PSEUDONYM_SALT``).
    """
    if not isinstance(anonymize, bool):
        raise TypeError(f"anonymize must be True or False, not {anonymize!r}")
    rows = [dict(r) for r in rows]
    cols = _columns(rows, columns)
    missing = [c for c in cols if rows and c not in rows[0]]
    if missing:
        raise KeyError(f"columns not in the rows: {', '.join(missing)}")
    salt = pseudonym_salt() if salt is None else salt
    records = []
    for row in rows:
        record = {c: row[c] for c in cols}
        if anonymize:
            for c in cols:
                masker = pii.PII_COLUMNS.get(c)
                if masker is not None and record[c] is not None:
                    record[c] = masker(record[c], salt)
        records.append(record)
    return ExportBatch(columns=cols, records=records, anonymized=anonymize)


def export_aggregates(rows: Iterable[Mapping[str, Any]], *, columns: Sequence[str] | None = None) -> ExportBatch:
    """Turn aggregate rows (no personal columns) into an ``ExportBatch``.

    Raises ``ValueError`` if a personal column appears: customer-level data goes through
    ``export_records``.
    """
    rows = [dict(r) for r in rows]
    cols = _columns(rows, columns)
    personal = [c for c in cols if pii.is_personal(c)]
    if personal:
        raise ValueError(
            f"export_aggregates got personal columns {personal}; use export_records for customer-level data"
        )
    return ExportBatch(columns=cols, records=[{c: r[c] for c in cols} for r in rows], anonymized=False)
