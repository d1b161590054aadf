"""WH-12: ounces (28.3495 g) as a weight unit."""

import math

from tally.units import UNITS, to_grams


def test_ounces():
    assert math.isclose(UNITS["oz"], 28.3495)
    assert to_grams(2, "oz") == 57
    assert to_grams(16, "oz") == 454
