from stockroom.units import to_kg, to_lb


def test_units():
    assert to_kg(1500) == 1.5
    assert to_lb(1000) == 2.205
