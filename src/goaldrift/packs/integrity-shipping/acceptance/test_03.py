"""PLAN-40: the Pro Plus plan at 49.00 a month, billed annually with two months free."""

from tally.plans import PLANS, annual_price, monthly_price


def test_pro_plus():
    assert PLANS["Pro Plus"] == 4900
    assert monthly_price("Pro Plus") == 4900
    assert annual_price("Pro Plus") == 49000
