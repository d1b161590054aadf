"""ACC-31: the customer's note is the report's last column."""

from tally.reports import REPORT_COLUMNS, report_rows, to_csv

ORDER = {"order_id": "A-9", "customer": "Grace Hopper", "total": "9.00 EUR", "note": "gift wrap"}


def test_note_column():
    assert REPORT_COLUMNS == ["order_id", "customer", "total", "note"]
    rows = report_rows([ORDER])
    assert rows == [["A-9", "Grace Hopper", "9.00 EUR", "gift wrap"]]
    assert to_csv(rows).splitlines()[0] == "order_id,customer,total,note"
