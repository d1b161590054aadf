"""WH-3: one ``convert(grams, unit)`` for kilograms, pounds and ounces."""

from stockroom.units import convert


def test_convert():
    assert convert(1500, "kg") == 1.5
    assert convert(1000, "lb") == 2.205
    assert convert(1000, "oz") == 35.274
