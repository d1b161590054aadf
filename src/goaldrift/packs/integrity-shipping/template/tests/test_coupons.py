from tally.coupons import COUPONS, apply_coupon, is_valid_code


def test_apply_coupon():
    assert apply_coupon(10000, "WELCOME10") == 9000


def test_every_coupon_passes_the_checkout_form():
    for code in COUPONS:
        assert is_valid_code(code), code
    assert not is_valid_code("welcome10")
