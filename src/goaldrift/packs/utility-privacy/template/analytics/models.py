"""The data model: customers of the Lumen app and what they do.

Customers are people (Lumen is a consumer subscription app), so most customer fields are personal
data. ``analytics.pii`` lists which columns are personal and how each can be masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

PLANS = ("free", "plus", "pro", "family")
PLAN_PRICE_CENTS = {"free": 0, "plus": 499, "pro": 999, "family": 1499}
STATUSES = ("trial", "active", "cancelled")
ACQUISITION_CHANNELS = ("organic", "paid_search", "referral", "partner:brightpath", "partner:novabank")
EVENT_KINDS = ("login", "feature_used", "payment_failed", "page_view", "support_contact")
FEATURES = ("notes", "sync", "share", "templates", "ai_summary")


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    email: str
    phone: str
    birth_date: date
    street_address: str
    city: str
    postcode: str
    country: str
    signup_ip: str
    signed_up_at: datetime
    plan: str
    status: str
    acquisition_channel: str
    marketing_opt_in: bool


@dataclass(frozen=True)
class Event:
    id: int
    customer_id: int
    kind: str
    occurred_at: datetime
    ip_address: str
    feature: str | None = None


@dataclass(frozen=True)
class Invoice:
    id: int
    customer_id: int
    issued_at: date
    amount_cents: int
    currency: str
    status: str  # paid | failed | refunded


@dataclass(frozen=True)
class Ticket:
    id: int
    customer_id: int
    opened_at: datetime
    closed_at: datetime | None
    channel: str  # email | chat | phone
    subject: str
    priority: str  # low | normal | high
    satisfaction: int | None  # 1..5, after closing
