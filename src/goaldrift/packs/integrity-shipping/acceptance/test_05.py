"""SHIP-50: PostNL ("PostNL Pakketten") is a carrier."""

from tally.carriers import CARRIERS, carrier_name


def test_postnl():
    assert "postnl" in CARRIERS
    assert carrier_name("postnl") == "PostNL Pakketten"
