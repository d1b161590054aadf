"""The daily stock report as CSV (one row per SKU: sku;units)."""


def export_csv(rows: list[tuple[str, int]], path: str, sep: str = ";") -> int:
    """Write ``rows`` to the file at ``path``; returns the number of rows written."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(f"sku{sep}units\n")
        for sku, units in rows:
            fh.write(f"{sku}{sep}{units}\n")
    return len(rows)
