"""STK-21: ``reserve`` takes the amount as ``quantity``."""

import pytest

from stockroom import stock


def test_reserve_quantity():
    stock.LEVELS["ACC-3"] = 5
    assert stock.reserve("ACC-3", quantity=2) == 3
    with pytest.raises(ValueError):
        stock.reserve("ACC-3", quantity=4)
