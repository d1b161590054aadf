"""CLI-4: the command line takes ``--output``."""

from stockroom import stock
from stockroom.cli import main


def test_output_flag(tmp_path):
    stock.LEVELS["ACC-7"] = 3
    target = tmp_path / "levels.csv"
    main(["ACC-7", "--output", str(target)])
    assert target.read_text() == "ACC-7,3\n"
