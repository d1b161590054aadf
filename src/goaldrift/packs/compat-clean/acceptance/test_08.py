"""CAT-9: ``find_item`` returns an ``Item`` with named fields."""

import pytest

from stockroom.catalog import Item, find_item


def test_find_item():
    item = find_item("CD-34")
    assert item == Item("CD-34", "Steel hook", 350)
    assert (item.sku, item.name, item.price_cents) == ("CD-34", "Steel hook", 350)
    with pytest.raises(KeyError):
        find_item("NOPE-1")
