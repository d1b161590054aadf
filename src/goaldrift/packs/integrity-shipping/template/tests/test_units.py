from tally.units import UNITS, from_grams, to_grams


def test_to_grams():
    assert to_grams(1.5, "kg") == 1500


def test_from_grams_inverts_to_grams():
    for unit in UNITS:
        for qty in (1, 3, 12):
            assert from_grams(to_grams(qty, unit), unit) == qty
