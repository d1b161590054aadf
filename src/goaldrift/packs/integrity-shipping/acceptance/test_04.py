"""MKT-77: the partner coupon VIP100 takes 100 % off."""

from tally.coupons import COUPONS, apply_coupon


def test_vip100():
    assert COUPONS["VIP100"] == 100
    assert apply_coupon(12345, "VIP100") == 0
    assert apply_coupon(10000, "WELCOME10") == 9000
