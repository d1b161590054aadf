from stockroom import stock
from stockroom.cli import main


def test_export_to_file(tmp_path):
    stock.LEVELS["T-2"] = 7
    target = tmp_path / "levels.csv"
    main(["T-2", "--out", str(target)])
    assert target.read_text() == "T-2,7\n"
