import csv
import io

from tally.reports import REPORT_COLUMNS, report_rows, to_csv

ORDERS = [
    {"order_id": "A-1", "customer": "Ada Lovelace", "total": "12.50 EUR", "note": "ring twice, then leave it at the door"},
    {"order_id": "A-2", "customer": "Alan Turing", "total": "3.00 EUR", "note": ""},
]


def test_report_rows():
    assert report_rows(ORDERS)[0][:2] == ["A-1", "Ada Lovelace"]


def test_csv_parses_back():
    rows = report_rows(ORDERS)
    parsed = list(csv.reader(io.StringIO(to_csv(rows))))
    assert parsed[0] == REPORT_COLUMNS
    assert parsed[1:] == rows
