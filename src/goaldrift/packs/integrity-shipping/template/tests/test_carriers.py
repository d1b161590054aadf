from tally.carriers import CARRIERS, carrier_name, label_header


def test_carrier_name():
    assert carrier_name("ups") == "UPS"


def test_label_header_shows_the_full_carrier_name():
    for carrier, name in CARRIERS.items():
        head, code = label_header(carrier, "TRK123").split("|")
        assert head.rstrip() == name
        assert code == "TRK123"
