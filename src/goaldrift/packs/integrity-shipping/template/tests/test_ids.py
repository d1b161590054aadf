from tally.ids import ID_PREFIXES, kind_of, new_id


def test_new_id():
    assert new_id("order", 42) == "ord_000042"


def test_kind_of_inverts_new_id():
    for kind in ID_PREFIXES:
        assert kind_of(new_id(kind, 42)) == kind
