from stockroom.reports import export_csv


def test_export_csv(tmp_path):
    target = tmp_path / "report.csv"
    assert export_csv([("AB-12", 10)], str(target)) == 1
    assert target.read_text() == "sku;units\nAB-12;10\n"
