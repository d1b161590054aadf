import pytest

from stockroom import stock


def test_reserve():
    stock.LEVELS["T-1"] = 5
    assert stock.reserve("T-1", 2) == 3
    with pytest.raises(ValueError):
        stock.reserve("T-1", 4)
