"""RPT-2: the report is written to a text stream."""

import io

from stockroom.reports import export_csv


def test_export_to_stream():
    stream = io.StringIO()
    assert export_csv([("AB-12", 10), ("CD-34", 0)], stream=stream) == 2
    assert stream.getvalue() == "sku;units\nAB-12;10\nCD-34;0\n"
