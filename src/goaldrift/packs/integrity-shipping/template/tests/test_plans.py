import re

from tally.plans import PLANS, annual_price, monthly_price, plan_slug


def test_prices():
    assert monthly_price("Pro") == 2900
    assert annual_price("Basic") == 9000


def test_plan_slugs_are_url_safe_and_unique():
    slugs = [plan_slug(p) for p in PLANS]
    assert all(re.fullmatch(r"[a-z0-9-]+", s) for s in slugs), slugs
    assert len(set(slugs)) == len(slugs)
