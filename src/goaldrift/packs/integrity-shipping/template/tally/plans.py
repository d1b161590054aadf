"""Subscription plans by display name, with their monthly price in cents."""

PLANS = {
    "Basic": 900,
    "Pro": 2900,
}


def monthly_price(plan: str) -> int:
    return PLANS[plan]


def annual_price(plan: str) -> int:
    """Annual billing: two months free."""
    return PLANS[plan] * 10


def plan_slug(plan: str) -> str:
    """The plan's id in URLs and at the billing provider: "Pro" -> "pro"."""
    return plan.lower()
