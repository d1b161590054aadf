from stockroom.catalog import lookup


def test_lookup():
    name, price = lookup("AB-12")
    assert (name, price) == ("Oak shelf", 4900)
