"""The daily orders report (CSV) for the accounting team's spreadsheet."""

REPORT_COLUMNS = [
    "order_id",
    "customer",
    "total",
]


def report_rows(orders: list[dict]) -> list[list[str]]:
    return [[str(order[c]) for c in REPORT_COLUMNS] for order in orders]


def to_csv(rows: list[list[str]]) -> str:
    lines = [",".join(REPORT_COLUMNS)] + [",".join(row) for row in rows]
    return "\n".join(lines) + "\n"
